// Reusable explain sentences and formatting: each states only what research/kernel-facts.md says.
#include "analyze/knowledge.hpp"

#include <cmath>

#include <fmt/format.h>

#include "analyze/kernel_model.hpp"

namespace sockdoctor::analyze {

std::string format_seconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "unbounded";
  const bool whole = std::fabs(seconds - std::round(seconds)) < 1e-9;
  std::string out =
      whole ? fmt::format("{} s", std::llround(seconds)) : fmt::format("{:.1f} s", seconds);
  const auto minutes = static_cast<long long>(seconds / 60);
  if (seconds >= 3600) {
    const long long h = minutes / 60, m = minutes % 60;
    out += m == 0 ? fmt::format(" ({} h)", h) : fmt::format(" ({} h {} min)", h, m);
  } else if (seconds >= 120) {
    out += fmt::format(" ({} min)", minutes);
  }
  return out;
}

std::string format_rate(double per_second) {
  if (!std::isfinite(per_second)) return "unbounded";
  if (per_second < 100) return fmt::format("{:.1f}", per_second);
  return fmt::format("{}", static_cast<long long>(std::floor(per_second)));
}

std::string kernel_label(const core::KernelSettings& k) {
  if (k.kernel_release.empty()) return "version unknown";
  if (k.kernel_major <= 0) return "'" + k.kernel_release + "' (version not recognised)";
  return k.kernel_release;
}

std::string close_wait_lifetime_sentence(const core::KernelSettings& k,
                                         bool keepalive_timer_armed) {
  if (!keepalive_timer_armed)
    return "No keepalive timer runs on this socket (the application did not set SO_KEEPALIVE), "
           "so no timer ends this idle CLOSE_WAIT: it lasts until the application calls close() "
           "or shutdown(SHUT_WR), the peer sends a RST, data the application writes goes "
           "unacknowledged (tcp_retries2 or TCP_USER_TIMEOUT), or someone destroys it with "
           "ss -K.";
  const int first = keepalive_first_probe_seconds(k);
  return fmt::format(
      "The application set SO_KEEPALIVE, so after {} idle (counted from the last packet "
      "received; per-socket TCP_KEEPIDLE overrides it) the kernel probes the peer: if the peer's "
      "socket is gone the first probe draws a RST at about {}; if the peer's socket still exists "
      "the probes are answered and CLOSE_WAIT never ends; if the peer answers nothing the kernel "
      "aborts after {}. Either way the socket only goes to CLOSE: its fd stays open until the "
      "application calls close().",
      format_seconds(first), format_seconds(first), format_seconds(keepalive_abort_seconds(k)));
}

std::string close_wait_recv_q_sentence(std::uint64_t recv_q) {
  if (recv_q == 0)
    return "Recv-Q 0: the application consumed everything, the FIN included, but never closed "
           "the socket. That does not prove it saw recv() return 0: a read that takes the last "
           "data byte also consumes a FIN that arrived in the same segment.";
  if (recv_q == 1)
    return "Recv-Q 1: only the peer's FIN is queued, so the application has not even read the "
           "end of stream; it is not reading this socket at all.";
  return fmt::format("Recv-Q {}: {} bytes of unread data plus the FIN; when the application "
                     "finally calls close() the kernel sends a RST instead of a FIN.",
                     recv_q, recv_q - 1);
}

std::string close_wait_unowned_sentence() {
  return "No process owns this CLOSE_WAIT socket (inode 0): it is a connection still waiting in "
         "a listener's accept queue that the client gave up on, so the listener is not calling "
         "accept() fast enough, and such entries count against its backlog.";
}

std::string close_wait_fix_sentence() {
  return "The fix is in the application: treat recv() == 0 or EPOLLRDHUP as end of stream and "
         "close(); close on every error path; open sockets with SOCK_CLOEXEC so children do not "
         "inherit them; accept() promptly; and let connection pools evict idle connections the "
         "server has closed. Keepalive sysctls do not fix a leak.";
}

std::string time_wait_lifetime_sentence(const core::KernelSettings& k) {
  constexpr std::string_view kRestart =
      "an in-window bare ACK, or a rejected segment that carries an ACK (a retransmitted FIN), "
      "restarts it; a RST never does, and an ACK-less SYN only if PAWS rejects it";
  if (k.tcp_tw_timeout)
    return fmt::format(
        "A TIME_WAIT entry lasts {} here (Alibaba Cloud Linux's net.ipv4.tcp_tw_timeout; "
        "upstream Linux fixes it at 60 s), and {}. It holds no file descriptor and blocks only "
        "its own 4-tuple.",
        format_seconds(*k.tcp_tw_timeout), kRestart);
  return fmt::format("A TIME_WAIT entry lasts 60 s on Linux (TCP_TIMEWAIT_LEN, a compile-time "
                     "constant), and its timer can fire late by {}; {}. It holds no file "
                     "descriptor and blocks only its own 4-tuple.",
                     timer_slack_clause(k, kTimeWaitSeconds), kRestart);
}

std::string fin_wait2_lifetime_sentence(const core::KernelSettings& k, bool orphaned) {
  if (!orphaned)
    return "This FIN_WAIT2 socket still has an owner (it did shutdown(SHUT_WR)), so no timer "
           "applies: it waits for the peer's FIN indefinitely, unless SO_KEEPALIVE finds the "
           "peer dead; tcp_fin_timeout does not apply.";
  const int tmo = fin_timeout_seconds(k);
  if (tmo <= kTimeWaitSeconds)
    return fmt::format("An orphaned FIN_WAIT2 (after close()) waits tcp_fin_timeout = {} for "
                       "the peer's FIN (never less than 3.5 x RTO; TCP_LINGER2 overrides it per "
                       "socket), then is freed silently.",
                       format_seconds(tmo));
  return fmt::format("With tcp_fin_timeout = {} (above 60 s) an orphaned FIN_WAIT2 first waits "
                     "{} on the keepalive timer and then {} more as a FIN_WAIT2 mini-socket, "
                     "{} in total (a quirk of the kernel code).",
                     format_seconds(tmo), format_seconds(tmo - kTimeWaitSeconds),
                     format_seconds(tmo - kTimeWaitSeconds),
                     format_seconds(orphan_fin_wait2_seconds(k)));
}

std::string tw_reuse_sentence(const core::KernelSettings& k,
                              const core::IpAddress& peer,
                              bool timestamps_negotiated) {
  const auto v = tw_reuse_verdict(k, peer, timestamps_negotiated);
  return v.reason + (v.applies ? "." : "; the 4-tuple stays blocked for the whole TIME_WAIT.");
}

std::string port_budget_sentence(const core::KernelSettings& k) {
  const int ports = usable_ephemeral_ports(k);
  const double plain = max_new_connection_rate(ports, 0, tuple_block_seconds(k, false));
  std::string out = fmt::format(
      "{} usable ephemeral ports: at most about {} new connections/s to one destination "
      "(address and port) from one source address when this host closes first and TIME_WAIT "
      "is not reused",
      ports, format_rate(plain));
  const int reuse = effective_tw_reuse(k);
  if (reuse != 0 && effective_timestamps(k) != 0) {
    const double fast = max_new_connection_rate(ports, 0, tuple_block_seconds(k, true));
    out += fmt::format("; with tcp_tw_reuse={} and timestamps on both ends, up to about {}/s "
                       "toward {} peers",
                       reuse, format_rate(fast), reuse == 2 ? "loopback" : "all");
  }
  return out + ".";
}

std::string tw_overflow_sentence(const core::KernelSettings& k) {
  const auto it = k.tcp_ext.find("TCPTimeWaitOverflow");
  const std::string limit =
      k.tcp_max_tw_buckets ? std::to_string(*k.tcp_max_tw_buckets) : std::string("unknown");
  if (it == k.tcp_ext.end() || it->second == 0)
    return fmt::format("TcpExtTCPTimeWaitOverflow is 0: the TIME_WAIT limit (tcp_max_tw_buckets "
                       "= {}) has not been hit in this network namespace.",
                       limit);
  return fmt::format(
      "TcpExtTCPTimeWaitOverflow = {}: that many closing sockets skipped TIME_WAIT because "
      "tcp_max_tw_buckets ({}) was reached; the kernel sent no RST and logged nothing, the "
      "counter is the only trace.",
      it->second, limit);
}

std::string tw_recycle_sentence(const core::KernelSettings& k) {
  if (k.tcp_tw_recycle_present) {
    if (kernel_at_least(k, 4, 12))
      return "net.ipv4.tcp_tw_recycle is present although upstream removed it in 4.12: a vendor "
             "patch; keep it 0, it drops connections from clients behind NAT.";
    return "net.ipv4.tcp_tw_recycle exists on this pre-4.12 kernel: keep it 0. It drops SYNs "
           "from clients behind NAT, and with per-connection timestamp offsets (4.10) it breaks "
           "connections for everyone; 4.12 removed it.";
  }
  if (kernel_before(k, 4, 12))
    return "net.ipv4.tcp_tw_recycle is absent, which is unexpected before 4.12 (4.12 removed it).";
  return "net.ipv4.tcp_tw_recycle is absent, as expected since 4.12 removed it; advice to set it "
         "is obsolete.";
}

std::string keepalive_sentence(const core::KernelSettings& k) {
  return fmt::format(
      "Only on sockets whose application set SO_KEEPALIVE (off by default): the first probe "
      "after {} without receiving anything, then every {} up to {} probes, so a peer that "
      "answers nothing is dropped after {}; a peer whose socket is gone answers the first probe "
      "with a RST.",
      format_seconds(keepalive_first_probe_seconds(k)),
      format_seconds(k.tcp_keepalive_intvl.value_or(75)), k.tcp_keepalive_probes.value_or(9),
      format_seconds(keepalive_abort_seconds(k)));
}

std::string listen_overflow_sentence(const core::KernelSettings& k) {
  const auto get = [&](const char* name) -> std::uint64_t {
    const auto it = k.tcp_ext.find(name);
    return it == k.tcp_ext.end() ? 0 : it->second;
  };
  const std::string cap = k.somaxconn ? std::to_string(*k.somaxconn) : std::string("unknown");
  return fmt::format(
      "TcpExtListenOverflows = {} since this network namespace was created "
      "(ListenDrops = {}, which also counts other drops on listeners): each one is a segment "
      "dropped because a listener's accept queue was full, a SYN or the ACK that completes a "
      "handshake, so one client that retries is counted again for every retransmission. The "
      "queue is full when it holds more than the listen() backlog (capped by "
      "net.core.somaxconn = {}), so up to backlog + 1 connections wait in it.",
      get("ListenOverflows"), get("ListenDrops"), cap);
}

std::string listen_overflow_client_sentence(const core::KernelSettings& k) {
  const std::string now =
      k.tcp_abort_on_overflow ? fmt::format(" (here: {})", *k.tcp_abort_on_overflow) : "";
  return fmt::format(
      "What the client sees depends on tcp_abort_on_overflow{}. With 0, the default, the "
      "server drops the ACK that completes the handshake: the client's connect() has already "
      "succeeded, its request waits unanswered while the server resends its SYN-ACK (up to "
      "tcp_synack_retries) until the queue has room, so it sees a stall, not an error. With 1 "
      "the server answers that ACK with a RST, and the client's first read or write fails with "
      "ECONNRESET. A SYN that meets a full queue is dropped either way: the client's connect() "
      "retransmits it (tcp_syn_retries) and is slow or times out.",
      now);
}

std::string sock_destroy_sentence(const core::KernelSettings& k) {
  std::string built;
  if (!k.config_inet_diag_destroy)
    built = "needs a kernel built with CONFIG_INET_DIAG_DESTROY=y (default n), which could not "
            "be checked here (no readable /proc/config.gz)";
  else if (*k.config_inet_diag_destroy)
    built = "works on this kernel (built with CONFIG_INET_DIAG_DESTROY=y, per /proc/config.gz)";
  else
    built = "does not work on this kernel: it was built without CONFIG_INET_DIAG_DESTROY "
            "(per /proc/config.gz)";
  return "ss -K (SOCK_DESTROY) " + built + ", and it needs CAP_NET_ADMIN.";
}

std::string orphan_retries_sentence(const core::KernelSettings& k) {
  const int sysctl = k.tcp_orphan_retries.value_or(0);
  const std::string value =
      sysctl == 0 ? std::string("tcp_orphan_retries = 0, which means 8")
                  : fmt::format("tcp_orphan_retries = {}", effective_orphan_retries(k));
  return fmt::format(
      "An orphan retransmits under {}, and the kernel turns that count into a time budget: "
      "{} since its oldest unacknowledged segment was sent (RTO doubling from 200 ms up to "
      "tcp_rto_max = {}), then it is dropped. The budget holds only while its RTO stays below "
      "tcp_rto_max (the kernel's \"alive\"); once the RTO reaches tcp_rto_max, or an ICMP error "
      "arrived, it is dropped at its next timeout. An orphan stuck on a zero window is aborted "
      "once its probe backoff reaches tcp_rto_max, even if the peer answers the probes.",
      value, format_seconds(orphan_retry_budget_seconds(k)), format_seconds(rto_max_seconds(k)));
}

std::string orphan_limit_sentence(const core::KernelSettings& k) {
  const std::string limit =
      k.tcp_max_orphans ? fmt::format(" (here {})", *k.tcp_max_orphans) : std::string();
  return fmt::format(
      "tcp_max_orphans{} is checked when an application closes a socket and again whenever an "
      "orphan's retransmission or window-probe timer fires. A socket closed while the orphans "
      "exceed it is reset at once instead of finishing its close. On a timer the orphan count is "
      "doubled for an orphan idle longer than twice tcp_rto_max (or out of retries), and doubled "
      "again after an ICMP error, before the comparison; the killed orphan gets a RST only while "
      "the peer still seems alive, it sent something within the last 60 s, or its window is "
      "closed, and is otherwise dropped silently. Each kill logs \"TCP: too many orphaned "
      "sockets\" (rate-limited) and counts TcpExtTCPAbortOnMemory. The same checks kill a "
      "closing socket that still has data queued when TCP memory is above tcp_mem's third value "
      "(\"out of memory -- consider tuning tcp_mem\").",
      limit);
}

std::string timer_slack_clause(const core::KernelSettings& k, double timeout_seconds) {
  const auto text = [](double seconds) {
    return format_seconds(seconds >= 10 ? std::round(seconds) : std::round(seconds * 10) / 10);
  };
  if (const auto slack = timer_slack_seconds(k, timeout_seconds))
    return fmt::format("up to {} at HZ={} (this kernel's CONFIG_HZ)", text(*slack), *k.config_hz);
  return fmt::format("up to {} at HZ=250 or {} at HZ=1000 (this kernel's HZ is unknown: no "
                     "readable /proc/config.gz)",
                     text(timer_slack_seconds(timeout_seconds, 250)),
                     text(timer_slack_seconds(timeout_seconds, 1000)));
}

std::string age_basis_note(const core::KernelSettings& k) {
  return fmt::format(
      "Ages: a TIME_WAIT age is its timer's length minus the time left, a lower bound (an "
      "in-window ACK or a rejected segment restarts the timer, and it can fire late by {}); an "
      "orphaned FIN_WAIT2 age is an estimate (its timer is max(tcp_fin_timeout, 3.5 x RTO), or "
      "TCP_LINGER2); CLOSE_WAIT and half-closed FIN_WAIT2 ages are the time since the last ACK "
      "received. \"at least\" marks a lower bound.",
      timer_slack_clause(k, time_wait_seconds(k)));
}

} // namespace sockdoctor::analyze
