// Explain knowledge: each sysctl's value in this namespace and what it does on this kernel.
#include "analyze/knowledge_parts.hpp"

#include <fmt/format.h>

#include "analyze/kernel_model.hpp"

namespace sockdoctor::analyze::parts {
namespace {

template <typename T> SettingInfo base(std::string_view name, const std::optional<T>& v) {
  SettingInfo s;
  s.name = std::string(name);
  s.present = v.has_value();
  if (v) {
    s.number = static_cast<long>(*v);
    s.value_text = std::to_string(*v);
  } else {
    s.value_text = "absent";
  }
  return s;
}

constexpr std::string_view kUnreadable = "absent or unreadable in this network namespace.";

// tcp_timestamps=1: what the keyed offset is keyed on for this release.
std::string timestamp_offset_text(const core::KernelSettings& k) {
  switch (timestamp_offsets(k)) {
  case TsOffsets::NoOffset:
    return "without random offsets: they only arrived in 4.10.";
  case TsOffsets::PerConnection:
    return "with a keyed random offset per connection (4-tuple): commit 165573e41f2f (March "
           "2026) restored that in 7.0 and in 6.18.y from 6.18.17, and this kernel has it.";
  case TsOffsets::PerHostPair:
    return "with a keyed random offset per (saddr, daddr) pair, shared by every connection "
           "between the two hosts (4.12 until commit 165573e41f2f, March 2026, which 6.18.y "
           "took in 6.18.17).";
  case TsOffsets::Unknown:
  case TsOffsets::Off:
    break;
  }
  if (kernel_before(k, 4, 12))
    return "with a keyed random offset: per connection in 4.10.0, per (saddr, daddr) pair in "
           "4.12 and in later 4.10.y releases; which one this kernel uses was not verified.";
  return "with a keyed random offset, per (saddr, daddr) pair from 4.12 and per connection "
         "again since commit 165573e41f2f (March 2026: 7.0, 6.18.17, and a 6.12.y release); "
         "whether this kernel has that change is not known.";
}

} // namespace

SettingInfo tw_reuse(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_tw_reuse", k.tcp_tw_reuse);
  const std::string delay = tw_reuse_delay(k).text;
  switch (k.tcp_tw_reuse.value_or(-1)) {
  case 0:
    s.meaning = "connect() does not reuse TIME_WAIT 4-tuples (an application that bind()s the "
                "local port explicitly bypasses this sysctl).";
    break;
  case 1:
    s.meaning = fmt::format("connect() may reuse a TIME_WAIT 4-tuple toward any peer, {}, if "
                            "that connection had timestamps on both ends. Outgoing connections "
                            "only.",
                            delay);
    break;
  case 2:
    s.meaning = fmt::format("loopback only (the default since 4.18): connect() may reuse the "
                            "TIME_WAIT 4-tuple of a loopback connection (peer or local address "
                            "in 127/8, ::1 or ::ffff:127.x, or a socket bound to lo), {}; toward "
                            "every other address, including this host's own non-loopback "
                            "addresses, the 4-tuple stays blocked for the whole TIME_WAIT.",
                            delay);
    break;
  default:
    s.meaning =
        s.present ? "unexpected value (the kernel accepts 0, 1, 2)." : std::string(kUnreadable);
  }
  return s;
}

SettingInfo tw_reuse_delay_setting(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_tw_reuse_delay", k.tcp_tw_reuse_delay);
  if (s.present) {
    s.meaning = fmt::format("{} ms after a connection enters TIME_WAIT, connect() may reuse its "
                            "4-tuple when tcp_tw_reuse applies (6.14+, range 1-60000, default "
                            "1000).",
                            *k.tcp_tw_reuse_delay);
  } else if (kernel_at_least(k, 6, 14)) {
    s.meaning = "absent although this kernel is 6.14 or later, where it was added: unexpected.";
  } else if (kernel_before(k, 6, 14)) {
    s.meaning = fmt::format("absent, as expected before 6.14: the reuse delay is fixed, {}.",
                            tw_reuse_delay(k).text);
  } else {
    s.meaning = "absent (exists from 6.14 on).";
  }
  return s;
}

SettingInfo timestamps(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_timestamps", k.tcp_timestamps);
  switch (k.tcp_timestamps.value_or(-1)) {
  case 0:
    s.meaning = "off: no PAWS, no TIME_WAIT reuse by tcp_tw_reuse, and SYN cookies cannot "
                "carry window scaling or SACK.";
    break;
  case 1:
    s.meaning = "on (default), " + timestamp_offset_text(k);
    break;
  case 2:
    s.meaning = "on, without a random offset: TSval is the raw millisecond clock and reveals "
                "the host's uptime.";
    break;
  default:
    s.meaning =
        s.present ? "unexpected value (the kernel accepts 0, 1, 2)." : std::string(kUnreadable);
  }
  if (s.present && *k.tcp_timestamps != 0)
    s.meaning += " Timestamps are also required from the peer for TIME_WAIT reuse.";
  return s;
}

SettingInfo tw_recycle(const core::KernelSettings& k) {
  SettingInfo s;
  s.name = "net.ipv4.tcp_tw_recycle";
  s.present = k.tcp_tw_recycle_present;
  s.value_text = s.present ? "present" : "absent";
  s.meaning = tw_recycle_sentence(k);
  return s;
}

std::string tw_recycle_truth(const core::KernelSettings& k) {
  return "It was removed in Linux 4.12: it dropped SYNs from clients behind NAT, and once 4.10 "
         "randomised timestamp offsets per connection it broke connections for everyone. " +
         tw_recycle_sentence(k);
}

SettingInfo tw_timeout(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_tw_timeout", k.tcp_tw_timeout);
  s.meaning = s.present ? "Alibaba Cloud Linux 2/3 only: the TIME_WAIT length in seconds (1-600, "
                          "default 60). No upstream kernel has it."
                        : "absent, as on every upstream kernel: the TIME_WAIT length (60 s) has "
                          "no sysctl.";
  return s;
}

SettingInfo max_tw_buckets(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_max_tw_buckets", k.tcp_max_tw_buckets);
  s.meaning = s.present
                  ? "limit on TIME_WAIT plus FIN_WAIT2 mini-sockets in this network namespace "
                    "(default: half the established-hash size). A closing socket over the limit "
                    "skips TIME_WAIT silently: no RST, no log line, only "
                    "TcpExtTCPTimeWaitOverflow counts it."
                  : std::string(kUnreadable);
  return s;
}

SettingInfo rfc1337(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_rfc1337", k.tcp_rfc1337);
  if (!s.present)
    s.meaning = kUnreadable;
  else if (*k.tcp_rfc1337 == 0)
    s.meaning = "0 (default): an in-window RST ends a TIME_WAIT entry early (\"TIME_WAIT "
                "assassination\").";
  else
    s.meaning = "RSTs do not end TIME_WAIT entries early.";
  return s;
}

SettingInfo fin_timeout(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_fin_timeout", k.tcp_fin_timeout);
  if (!s.present) {
    s.meaning = kUnreadable;
    return s;
  }
  s.meaning = fmt::format("seconds an orphaned FIN_WAIT2 (after close()) waits for the peer's "
                          "FIN (default 60; a socket that only did shutdown(SHUT_WR) has no "
                          "timer). It has no effect on TIME_WAIT.");
  if (*k.tcp_fin_timeout > 60)
    s.meaning += fmt::format(" Above 60 the total is 2 x ({} - 60) = {}.", *k.tcp_fin_timeout,
                             format_seconds(orphan_fin_wait2_seconds(k)));
  return s;
}

SettingInfo keepalive_time(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_keepalive_time", k.tcp_keepalive_time);
  s.meaning = s.present ? "seconds without receiving anything before the first keepalive probe, "
                          "on sockets that set SO_KEEPALIVE only (off by default). It is not "
                          "\"how often\": that is tcp_keepalive_intvl."
                        : std::string(kUnreadable);
  return s;
}

SettingInfo keepalive_intvl(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_keepalive_intvl", k.tcp_keepalive_intvl);
  s.meaning = s.present ? "seconds between unanswered keepalive probes (SO_KEEPALIVE sockets "
                          "only; TCP_KEEPINTVL overrides per socket)."
                        : std::string(kUnreadable);
  return s;
}

SettingInfo keepalive_probes(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_keepalive_probes", k.tcp_keepalive_probes);
  s.meaning = s.present ? "unanswered probes before the kernel aborts the connection with "
                          "ETIMEDOUT (SO_KEEPALIVE sockets only; TCP_KEEPCNT overrides per "
                          "socket)."
                        : std::string(kUnreadable);
  return s;
}

SettingInfo retries2(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_retries2", k.tcp_retries2);
  s.meaning = s.present ? fmt::format("retransmissions of unacknowledged data before the kernel "
                                      "gives up, turned into a time budget: at least {} here, "
                                      "with tcp_rto_max = {}. TCP_USER_TIMEOUT overrides it per "
                                      "socket. It does not bound a socket whose receiver keeps "
                                      "answering zero-window probes: without TCP_USER_TIMEOUT "
                                      "that socket stays as long as the receiver does.",
                                      format_seconds(retries2_timeout_seconds(k)),
                                      format_seconds(rto_max_seconds(k)))
                        : std::string(kUnreadable);
  return s;
}

SettingInfo orphan_retries(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_orphan_retries", k.tcp_orphan_retries);
  if (!s.present)
    s.meaning = kUnreadable;
  else
    s.meaning = fmt::format("{}retransmissions of an orphaned socket (FIN_WAIT1, CLOSING, "
                            "LAST_ACK), counted as a time budget of {} while its RTO stays "
                            "below tcp_rto_max; an orphan whose RTO reached tcp_rto_max is "
                            "dropped at its next timeout.",
                            *k.tcp_orphan_retries == 0 ? "0 (default) means 8 " : "",
                            format_seconds(orphan_retry_budget_seconds(k)));
  return s;
}

SettingInfo max_orphans(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_max_orphans", k.tcp_max_orphans);
  s.meaning = s.present ? "system-wide limit on sockets closed by their application but not yet "
                          "finished (checked at close() and on orphans' timers): over it the "
                          "kernel kills orphans, with a RST only in some cases, logs \"TCP: too "
                          "many orphaned sockets\" and counts TcpExtTCPAbortOnMemory."
                        : std::string(kUnreadable);
  return s;
}

SettingInfo somaxconn(const core::KernelSettings& k) {
  auto s = base("net.core.somaxconn", k.somaxconn);
  s.meaning = s.present ? "upper bound on the backlog an application passes to listen() "
                          "(default 4096 since 5.4, 128 before). The backlog bounds both queues: "
                          "the accept queue holds up to backlog + 1 connections, the SYN queue "
                          "about as many pending requests."
                        : std::string(kUnreadable);
  return s;
}

SettingInfo max_syn_backlog(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_max_syn_backlog", k.tcp_max_syn_backlog);
  s.meaning = s.present ? "does not size the SYN queue, whatever ip-sysctl.rst suggests: a "
                          "listener's SYN queue is bounded by its listen() backlog (capped by "
                          "somaxconn). Only with tcp_syncookies=0 does this value act: once "
                          "a listener's pending requests pass three quarters of it, SYNs from "
                          "peers the kernel has no TCP metrics for (not proven alive) are "
                          "dropped."
                        : std::string(kUnreadable);
  return s;
}

SettingInfo syncookies(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_syncookies", k.tcp_syncookies);
  switch (k.tcp_syncookies.value_or(-1)) {
  case 0:
    s.meaning = "off: a full SYN queue drops new connection requests.";
    break;
  case 1:
    s.meaning = "1 (default): SYN cookies are sent when a listener's SYN queue is full (its "
                "listen() backlog of pending requests).";
    break;
  case 2:
    s.meaning = "2: SYN cookies are sent unconditionally.";
    break;
  default:
    s.meaning = s.present ? "unexpected value." : std::string(kUnreadable);
  }
  return s;
}

SettingInfo rto_max_ms(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_rto_max_ms", k.tcp_rto_max_ms);
  if (s.present)
    s.meaning =
        fmt::format("the retransmission timeout stops doubling at {}: 6.15+, range "
                    "1000-120000 ms, default 120000; TCP_RTO_MAX_MS sets it per socket, "
                    "and a socket keeps the value it was created with. It shortens the "
                    "tcp_retries2 and tcp_orphan_retries budgets: {} and {} here.",
                    format_seconds(rto_max_seconds(k)), format_seconds(retries2_timeout_seconds(k)),
                    format_seconds(orphan_retry_budget_seconds(k)));
  else if (kernel_before(k, 6, 15))
    s.meaning = "absent, as expected before 6.15: the maximum RTO is fixed at 120 s.";
  else if (kernel_at_least(k, 6, 15))
    s.meaning = "absent although this kernel is 6.15 or later: figures assume its default, "
                "120000 ms.";
  else
    s.meaning = "absent (exists from 6.15 on; the maximum RTO is then fixed at 120 s).";
  return s;
}

SettingInfo abort_on_overflow(const core::KernelSettings& k) {
  auto s = base("net.ipv4.tcp_abort_on_overflow", k.tcp_abort_on_overflow);
  if (!s.present)
    s.meaning = kUnreadable;
  else if (*k.tcp_abort_on_overflow == 0)
    s.meaning = "0 (default): while the accept queue is full the ACK that completes a handshake "
                "is dropped and the client, whose connect() already succeeded, waits.";
  else
    s.meaning = "the ACK that completes a handshake on a full accept queue is answered with a "
                "RST: the client sees ECONNRESET.";
  return s;
}

SettingInfo port_range(const core::KernelSettings& k) {
  SettingInfo s;
  s.name = "net.ipv4.ip_local_port_range";
  s.present = k.ip_local_port_range.has_value();
  if (!s.present) {
    s.value_text = "absent";
    s.meaning = "absent or unreadable; assuming the default 32768-60999 (28232 ports).";
    return s;
  }
  const auto r = *k.ip_local_port_range;
  s.value_text = fmt::format("{} {}", r.low, r.high);
  s.meaning = fmt::format("connect() picks local ports from {}-{}, {} ports (default "
                          "32768-60999 = 28232).",
                          r.low, r.high, r.high - r.low + 1);
  if (r.low % 2 == r.high % 2)
    s.meaning += " Low and high have the same parity; the kernel asks for different parity.";
  return s;
}

SettingInfo reserved_ports(const core::KernelSettings& k) {
  SettingInfo s;
  s.name = "net.ipv4.ip_local_reserved_ports";
  s.present = true;
  std::string list;
  for (const auto& [low, high] : k.ip_local_reserved_ports) {
    if (!list.empty()) list += ',';
    list += low == high ? std::to_string(low) : fmt::format("{}-{}", low, high);
  }
  s.value_text = list; // the sysctl text; renderers show "(none)" for empty
  if (list.empty()) {
    s.meaning = "no ports reserved.";
  } else {
    const auto r = k.ip_local_port_range.value_or(core::PortRange{});
    const int inside = (r.high - r.low + 1) - usable_ephemeral_ports(k);
    s.meaning = fmt::format("skipped by connect() and bind(0) ({} of them inside the ephemeral "
                            "range); explicit binds may still use them.",
                            inside);
  }
  return s;
}

} // namespace sockdoctor::analyze::parts
