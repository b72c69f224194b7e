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
      rate_figure("max_rate_without_reuse_slack", "Same, with worst-case timer slack",
                  max_new_connection_rate(ports, 0, tw + timer_slack_seconds(tw)),
                  fmt::format("P / {} (TIME_WAIT plus timer-wheel slack at HZ=1000)",
                              format_seconds(tw + timer_slack_seconds(tw)))),
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
                  "destination, so this budget is shared by all of them"),
  };
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
       "keep it, so it is unusable toward every destination for the whole TIME_WAIT. "
       "IP_BIND_ADDRESS_NO_PORT (Linux 4.2) defers the choice to connect().",
       "net/ipv4/inet_connection_sock.c: inet_csk_find_open_port(); include/uapi/linux/in.h: "
       "IP_BIND_ADDRESS_NO_PORT"},
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
       std::string(cite::kHashConnect)},
      {"tcp_tw_reuse lets a server accept a new connection on a 4-tuple still in TIME_WAIT.",
       "A server accepts such a SYN when its sequence number or timestamp is newer, whatever "
       "tcp_tw_reuse says; the sysctl is consulted only by connect().",
       std::string(cite::kTimeWaitProcess) + "; " + std::string(cite::kTwReuse)},
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
  t.settings = {max_orphans(k), orphan_retries(k), fin_timeout(k)};
  const int retries = k.tcp_orphan_retries.value_or(0);
  t.figures = {
      count_figure("orphans_now", "Orphans now (all namespaces)", as_double(k.sockstat_orphan),
                   "sockets", "/proc/net/sockstat orphan, which is global, not per namespace"),
      count_figure("orphans_limit", "Limit (tcp_max_orphans)", as_double(k.tcp_max_orphans),
                   "sockets", "System-wide"),
      count_figure("orphan_fin_retransmissions", "FIN retransmissions before giving up",
                   retries == 0 ? 8 : retries, "retries",
                   retries == 0 ? "tcp_orphan_retries = 0 means 8 while the peer is alive"
                                : "tcp_orphan_retries"),
      seconds_figure("fin_wait2_orphaned", "Orphaned FIN_WAIT2 lifetime",
                     orphan_fin_wait2_seconds(k), "See `sockdoctor explain fin-wait-2`"),
  };
  const std::string destroy =
      kernel_at_least(k, 6, 11)
          ? "ss -K works on orphaned sockets on this kernel (fixed in 6.11), if it was built with "
            "CONFIG_INET_DIAG_DESTROY=y."
          : "Before 6.11, ss -K on an orphaned socket did nothing yet reported success (fixed by "
            "bac76cf89816, backported to 6.10.y and, in 2025, to 5.15.y and other LTS branches).";
  t.facts = {
      {"After close(), a socket that has not finished closing has no fd and no process: ss and "
       "/proc/net/tcp show inode 0, and the uid is kept.",
       "include/net/sock.h: sock_orphan(), sk_set_socket() (v6.19)"},
      {"LAST_ACK retransmits its FIN under tcp_orphan_retries and is destroyed when the ACK "
       "arrives; the side that closed second never enters TIME_WAIT.",
       "net/ipv4/tcp_input.c: tcp_rcv_state_process() case TCP_LAST_ACK (v6.19)"},
      {"close() with unread data sends a RST and goes straight to CLOSE: no FIN, no FIN_WAIT or "
       "LAST_ACK left to finish (TcpExtTCPAbortOnClose).",
       std::string(cite::kTcpClose)},
      {fin_wait2_lifetime_sentence(k, true), std::string(cite::kFinTime)},
      {"In /proc/net/sockstat, orphan and alloc are global; inuse and tw are per network "
       "namespace.",
       "net/ipv4/proc.c: sockstat_seq_show() (v6.19)"},
      {destroy, std::string(cite::kSockDestroy)},
  };
  t.myths = {
      {"ss -K removes any stuck socket.",
       "It needs CONFIG_INET_DIAG_DESTROY=y (default n) and CAP_NET_ADMIN; TIME_WAIT entries "
       "only since 6.0; orphaned sockets only since 6.11 (earlier it silently did nothing). On a "
       "socket that still has an fd, the fd stays open until close().",
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
  t.settings = {somaxconn(k), max_syn_backlog(k), syncookies(k)};
  t.figures = {
      count_figure("somaxconn", "Largest accept queue listen() can get", as_double(k.somaxconn),
                   "connections", "net.core.somaxconn caps the listen() backlog"),
      count_figure("listen_overflows", "Accept-queue overflows",
                   counter(k.tcp_ext, "ListenOverflows"), "events",
                   "TcpExtListenOverflows since this network namespace was created"),
      count_figure("listen_drops", "Drops on listeners", counter(k.tcp_ext, "ListenDrops"),
                   "events", "TcpExtListenDrops, which includes the overflows"),
  };
  t.facts = {
      {"For a LISTEN socket, Recv-Q is the number of connections waiting for accept() and "
       "Send-Q is the queue's limit.",
       std::string(cite::kDiagQueues)},
      {"A connection still in the accept queue has no owning process (inode 0); if the client "
       "gives up it turns CLOSE_WAIT there, and it still counts against the backlog.",
       std::string(cite::kCloneLock)},
      {listen_overflow_sentence(k),
       "net/ipv4/tcp_ipv4.c: tcp_v4_syn_recv_sock(); net/ipv4/tcp_input.c: tcp_conn_request() "
       "(v6.19)"},
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
