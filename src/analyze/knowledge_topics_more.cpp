// Explain topics ports (ephemeral port budget), orphans and listen-queue.
#include <fmt/format.h>

#include "analyze/kernel_model.hpp"
#include "analyze/knowledge_parts.hpp"

namespace sockdoctor::analyze::parts {
namespace {

std::optional<double> counter(const std::map<std::string, std::uint64_t>& m, const char* name) {
  const auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  return static_cast<double>(it->second);
}

template <typename T> std::optional<double> as_double(const std::optional<T>& v) {
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}

// Example peers for the per-class verdicts; nothing is ever sent to them.
core::IpAddress loopback_peer() {
  return *core::parse_address("127.0.0.1");
}
core::IpAddress remote_peer() {
  return *core::parse_address("192.0.2.1");
} // TEST-NET-1

// The no-reuse rate with the TIME_WAIT timer's worst lateness; unknown when HZ is.
Figure slack_rate_figure(const core::KernelSettings& k, int ports, int tw) {
  const auto slack = timer_slack_seconds(k, tw);
  if (!slack) {
    Figure f{"max_rate_without_reuse_slack",
             "Same, with worst-case timer slack",
             std::nullopt,
             "connections/s",
             "Unknown: the slack depends on CONFIG_HZ, and this kernel's HZ is unknown (" +
                 timer_slack_clause(k, tw) + ")",
             "unknown (HZ unknown)"};
    return f;
  }
  return rate_figure(
      "max_rate_without_reuse_slack", "Same, with worst-case timer slack",
      max_new_connection_rate(ports, 0, tw + *slack),
      fmt::format("P / {} (TIME_WAIT plus timer-wheel slack at HZ={}, this kernel's CONFIG_HZ)",
                  format_seconds(tw + *slack), *k.config_hz));
}

std::vector<Figure> port_figures(const core::KernelSettings& k) {
  const int ports = usable_ephemeral_ports(k);
  const int tw = time_wait_seconds(k);
  const auto loop = tw_reuse_verdict(k, loopback_peer(), true);
  const auto other = tw_reuse_verdict(k, remote_peer(), true);
  const auto rate = [&](bool reuse) {
    return max_new_connection_rate(ports, 0, tuple_block_seconds(k, reuse));
  };
  return {
      count_figure("usable_ephemeral_ports", "Usable ephemeral ports (P)", ports, "ports",
                   "ip_local_port_range minus ip_local_reserved_ports inside it; ports held by "
                   "bind() or listen() in this namespace also reduce it"),
      rate_figure("max_rate_without_reuse", "New connections/s per destination, no reuse",
                  rate(false),
                  fmt::format("P / {} s of TIME_WAIT, per (source address, destination address, "
                              "destination port) when this host closes first and connections "
                              "are short; with E connections open to it: (P - E) / (lifetime + "
                              "{} s)",
                              tw, tw)),
      slack_rate_figure(k, ports, tw),
      rate_figure("max_rate_loopback", "New connections/s per destination, loopback peers",
                  rate(loop.applies),
                  loop.reason + (loop.applies ? " (upper bound; connect()'s port scan becomes "
                                                "the bottleneck before it)"
                                              : "")),
      rate_figure("max_rate_other_peers", "New connections/s per destination, other peers",
                  rate(other.applies),
                  other.reason + (other.applies ? " (upper bound; connect()'s port scan becomes "
                                                  "the bottleneck before it)"
                                                : "")),
      rate_figure("max_rate_bind_before_connect", "All destinations together, if bind() first",
                  rate(false),
                  "When the application bind()s to port 0 before connect() (without "
                  "IP_BIND_ADDRESS_NO_PORT), each TIME_WAIT blocks its port for every "
                  "destination, so this budget is shared by all of them; when it runs out, "
                  "bind() fails with EADDRINUSE (not connect() with EADDRNOTAVAIL)"),
  };
}

// Per-socket port ranges (IP_LOCAL_PORT_RANGE), by version.
std::string port_range_socket_text(const core::KernelSettings& k) {
  const std::string what =
      "a socket can narrow its own range with the IP_LOCAL_PORT_RANGE option; its budget is "
      "then that range, not ip_local_port_range, and since 6.8 such a socket scans it without "
      "the parity preference";
  if (kernel_at_least(k, 6, 3)) return "On this kernel (6.3 and later) " + what + ".";
  if (kernel_before(k, 6, 3))
    return "IP_LOCAL_PORT_RANGE, a per-socket port range, arrived in 6.3: on this kernel every "
           "socket uses ip_local_port_range.";
  return "Since 6.3 " + what + ".";
}

} // namespace

Topic ports_topic(const core::KernelSettings& k) {
  Topic t;
  t.id = "ports";
  t.title = "Ephemeral ports";
  t.summary = "How many new outgoing connections per second one destination can take before "
              "connect() fails with EADDRNOTAVAIL (\"Cannot assign requested address\").";
  t.settings = {port_range(k), reserved_ports(k), tw_reuse(k), tw_reuse_delay_setting(k),
                timestamps(k)};
  t.figures = port_figures(k);
  t.facts = {
      {"A connection is identified by (source address, source port, destination address, "
       "destination port): connect() may use the same local port toward different destinations "
       "at the same time, and a TIME_WAIT entry blocks only its own 4-tuple.",
       std::string(cite::kHashConnect)},
      {"When every candidate port fails, connect() returns EADDRNOTAVAIL. Capacity adds up "
       "across destinations: more source addresses (with IP_BIND_ADDRESS_NO_PORT), more server "
       "ports or addresses, or a wider ip_local_port_range.",
       std::string(cite::kHashConnect)},
      {"connect() starts at a hashed offset per destination and tries ports with the parity of "
       "the range's low end first, then the others (since 4.6); bind(0) prefers the other "
       "parity. This spreads the two apart; it does not halve capacity.",
       "net/ipv4/inet_hashtables.c: __inet_hash_connect(); net/ipv4/inet_connection_sock.c: "
       "inet_csk_find_open_port() (v6.19)"},
      {"Reserved ports are skipped by connect() and bind(0), and a port held by bind() or "
       "listen() is never chosen by connect().",
       "include/net/ip.h: inet_is_local_reserved_port(); " + std::string(cite::kHashConnect)},
      {"bind(addr, 0) before connect() reserves a port exclusively, and its TIME_WAIT entries "
       "keep it, so it is unusable toward every destination for the whole TIME_WAIT. When no "
       "port is left that way, bind() fails with EADDRINUSE (\"Address already in use\"), not "
       "connect() with EADDRNOTAVAIL, unless ip_autobind_reuse=1. IP_BIND_ADDRESS_NO_PORT "
       "(Linux 4.2) defers the choice to connect().",
       std::string(cite::kBindPort) + "; include/uapi/linux/in.h: IP_BIND_ADDRESS_NO_PORT"},
      {port_range_socket_text(k),
       "include/uapi/linux/in.h: IP_LOCAL_PORT_RANGE (absent in v6.1, present in v6.6); "
       "net/ipv4/inet_hashtables.c: __inet_hash_connect() (v6.8.1)"},
      {"tcp_tw_reuse=2 treats a TIME_WAIT entry as loopback when its peer or its local address "
       "is loopback (127/8, ::1, ::ffff:127.x) or its socket was bound to lo; traffic to this "
       "host's own non-loopback address, or to a container over a bridge, is not.",
       std::string(cite::kTwReuseLoopback)},
      {"If the server closes first, the TIME_WAIT is on the server: the client's 4-tuple frees "
       "after LAST_ACK, and the server accepts a new SYN on its TIME_WAIT tuple when the "
       "sequence number or timestamp is newer, so this budget does not limit the client.",
       std::string(cite::kTimeWaitProcess)},
  };
  t.myths = {
      {"TIME_WAIT and CLOSE_WAIT sockets occupy ports, and enough of them exhaust the ports.",
       fmt::format("A TIME_WAIT blocks one 4-tuple; the same local port serves other "
                   "destinations at the same time. The budget is per (source address, "
                   "destination address, destination port): about {}/s here without reuse. A "
                   "server-side CLOSE_WAIT uses no ephemeral port at all.",
                   format_rate(max_new_connection_rate(usable_ephemeral_ports(k), 0,
                                                       tuple_block_seconds(k, false)))),
       std::string(cite::kHashConnect), true,
       "A TIME_WAIT blocks one 4-tuple, not a port: the port still serves other destinations."},
      {"tcp_tw_reuse lets a server accept a new connection on a 4-tuple still in TIME_WAIT.",
       "A server accepts such a SYN when its sequence number or timestamp is newer, whatever "
       "tcp_tw_reuse says; the sysctl is consulted only by connect().",
       std::string(cite::kTimeWaitProcess) + "; " + std::string(cite::kTwReuse), true,
       "tcp_tw_reuse is for connect() only; a server takes a newer SYN on its own."},
      {"Enable tcp_tw_recycle to avoid running out of ports.", tw_recycle_truth(k),
       std::string(cite::kTwRecycleRemoved)},
  };
  return t;
}

Topic orphans_topic(const core::KernelSettings& k) {
  Topic t;
  t.id = "orphans";
  t.title = "Orphaned sockets";
  t.summary = "Connections whose application already called close() but whose TCP close has not "
              "finished (FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK); no process owns them.";
  t.settings = {max_orphans(k), orphan_retries(k), rto_max_ms(k), fin_timeout(k)};
  t.figures = {
      count_figure("orphans_now", "Orphans now (all namespaces)", as_double(k.sockstat_orphan),
                   "sockets", "/proc/net/sockstat orphan, which is global, not per namespace"),
      count_figure("orphans_limit", "Limit (tcp_max_orphans)", as_double(k.tcp_max_orphans),
                   "sockets", "System-wide"),
      seconds_figure("orphan_retry_budget", "Retransmission budget of an orphan",
                     orphan_retry_budget_seconds(k),
                     fmt::format("tcp_orphan_retries{} as a time budget (tcp_model_timeout: RTO "
                                 "from 200 ms doubling up to tcp_rto_max {}), while the RTO "
                                 "stays below tcp_rto_max; not a count of retransmissions",
                                 k.tcp_orphan_retries.value_or(0) == 0 ? " = 0, meaning 8," : "",
                                 format_seconds(rto_max_seconds(k)))),
      seconds_figure("fin_wait2_orphaned", "Orphaned FIN_WAIT2 lifetime",
                     orphan_fin_wait2_seconds(k), "See `sockdoctor explain fin-wait-2`"),
  };
  const std::string destroy =
      (kernel_at_least(k, 6, 11)
           ? std::string("ss -K works on orphaned sockets on kernels from 6.11, as this one is.")
           : std::string("Before 6.11, ss -K on an orphaned socket did nothing yet reported "
                         "success (fixed by bac76cf89816, backported to 6.10.y and, in 2025, to "
                         "5.15.y and other LTS branches).")) +
      " " + sock_destroy_sentence(k);
  t.facts = {
      {"After close(), a socket that has not finished closing has no fd and no process: ss and "
       "/proc/net/tcp show inode 0, and the uid is kept.",
       "include/net/sock.h: sock_orphan(), sk_set_socket() (v6.19)"},
      {"LAST_ACK retransmits its FIN under tcp_orphan_retries and is destroyed when the ACK "
       "arrives; the side that closed second never enters TIME_WAIT.",
       "net/ipv4/tcp_input.c: tcp_rcv_state_process() case TCP_LAST_ACK (v6.19)"},
      {orphan_retries_sentence(k),
       std::string(cite::kWriteTimeout) + "; " + std::string(cite::kProbeTimer)},
      {orphan_limit_sentence(k), std::string(cite::kOrphanLimit)},
      {"close() with unread data sends a RST and goes straight to CLOSE: no FIN, no FIN_WAIT or "
       "LAST_ACK left to finish (TcpExtTCPAbortOnClose).",
       std::string(cite::kTcpClose)},
      {fin_wait2_lifetime_sentence(k, true), std::string(cite::kFinTime)},
      {"In /proc/net/sockstat, orphan and alloc are global; inuse and tw are per network "
       "namespace.",
       "net/ipv4/proc.c: sockstat_seq_show() (v6.19)"},
      {destroy + " On LAST_ACK and CLOSING it sends no RST (only ESTABLISHED, CLOSE_WAIT, "
                 "FIN_WAIT1, FIN_WAIT2 and SYN_RECV get one): the socket just disappears and "
                 "the peer is not told.",
       std::string(cite::kSockDestroy)},
  };
  t.myths = {
      {"ss -K removes any stuck socket.",
       sock_destroy_sentence(k) +
           " TIME_WAIT entries only since 6.0; orphaned sockets only since 6.11 (earlier it "
           "silently did nothing); LAST_ACK and CLOSING are removed without a RST to the peer. On "
           "a socket that still has an fd, the fd stays open until close().",
       std::string(cite::kSockDestroy)},
  };
  return t;
}

Topic listen_queue_topic(const core::KernelSettings& k) {
  Topic t;
  t.id = "listen-queue";
  t.title = "Listen (accept) queue";
  t.summary = "A listening socket's accept queue holds connections that completed the handshake "
              "until the application calls accept().";
  t.settings = {somaxconn(k), max_syn_backlog(k), syncookies(k), abort_on_overflow(k)};
  const auto largest = k.somaxconn ? std::optional<double>(*k.somaxconn + 1.0) : std::nullopt;
  t.figures = {
      count_figure("somaxconn", "Largest accept queue listen() can get", largest, "connections",
                   "net.core.somaxconn + 1: somaxconn caps the listen() backlog, and the queue "
                   "counts as full only when it holds more than the backlog"),
      count_figure("listen_overflows", "Accept-queue overflows",
                   counter(k.tcp_ext, "ListenOverflows"), "events",
                   "TcpExtListenOverflows since this network namespace was created: dropped "
                   "segments (SYNs and handshake-completing ACKs), retransmissions counted "
                   "again, not connection attempts"),
      count_figure("listen_drops", "Drops on listeners", counter(k.tcp_ext, "ListenDrops"),
                   "events", "TcpExtListenDrops, which includes the overflows"),
  };
  t.facts = {
      {"For a LISTEN socket, Recv-Q is the number of connections waiting for accept() and "
       "Send-Q is the backlog; the queue is full only when Recv-Q exceeds it, so up to Send-Q + 1 "
       "connections wait.",
       std::string(cite::kDiagQueues) + "; " + std::string(cite::kAcceptQueue)},
      {"The SYN queue (handshakes not yet completed, SYN_RECV) is bounded by the same listen() "
       "backlog, not by tcp_max_syn_backlog. When it is full the kernel answers with SYN cookies "
       "(tcp_syncookies=1, the default) or drops the SYN; tcp_max_syn_backlog only matters with "
       "tcp_syncookies=0, where it makes the kernel drop SYNs from unproven peers once the queue "
       "passes three quarters of it.",
       std::string(cite::kSynQueue)},
      {listen_overflow_client_sentence(k), std::string(cite::kAbortOnOverflow)},
      {"A connection still in the accept queue has no owning process (inode 0); if the client "
       "gives up it turns CLOSE_WAIT there, and it still counts against the backlog.",
       std::string(cite::kCloneLock)},
      {listen_overflow_sentence(k), std::string(cite::kAcceptQueue)},
      {"With tcp_timestamps=0, SYN cookies cannot carry window scaling or SACK.",
       "net/ipv4/syncookies.c (v6.19)"},
  };
  t.myths = {
      {"Every CLOSE_WAIT socket belongs to a process that forgot to call close().",
       "A connection still waiting in a listener's accept queue can be in CLOSE_WAIT with no "
       "process at all (inode 0): the listener is not calling accept() fast enough.",
       std::string(cite::kCloneLock)},
  };
  return t;
}

} // namespace sockdoctor::analyze::parts
