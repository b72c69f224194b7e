// Explain topics close-wait, time-wait, fin-wait-2, keepalive, and the topic index.
#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "analyze/kernel_model.hpp"
#include "analyze/knowledge_parts.hpp"

namespace sockdoctor::analyze {
namespace parts {

namespace {
double round1(double v) {
  return std::round(v * 10.0) / 10.0;
}

// A timer's latest firing time on this kernel: nullopt when HZ is unknown.
std::optional<double> latest(const core::KernelSettings& k, double seconds) {
  const auto slack = timer_slack_seconds(k, seconds);
  if (!slack) return std::nullopt;
  return seconds + *slack;
}

// A figure whose value depends on HZ: "unknown" (not "unbounded") when HZ is not known.
Figure
hz_figure(std::string id, std::string name, std::optional<double> seconds, std::string basis) {
  Figure f = seconds_figure(std::move(id), std::move(name), seconds, std::move(basis));
  if (!seconds) f.display = "unknown (HZ unknown)";
  return f;
}

Figure reuse_delay_figure(const core::KernelSettings& k) {
  const auto d = tw_reuse_delay(k);
  Figure f = seconds_figure("tw_reuse_delay", "Reuse delay when tcp_tw_reuse applies",
                            d.max_seconds, d.text + "; upper bound used for the port budget");
  if (d.configurable)
    f.display = fmt::format("{} ms", std::llround(d.min_seconds * 1000));
  else
    f.display = fmt::format("{:g}-{:g} s", d.min_seconds, d.max_seconds);
  return f;
}
} // namespace

Figure
seconds_figure(std::string id, std::string name, std::optional<double> seconds, std::string basis) {
  Figure f{std::move(id), std::move(name), std::nullopt, "s", std::move(basis), "unbounded"};
  if (seconds) {
    f.value = round1(*seconds);
    f.display = format_seconds(*seconds);
  }
  return f;
}

Figure rate_figure(std::string id, std::string name, double per_second, std::string basis) {
  return Figure{std::move(id),   std::move(name),  round1(per_second),
                "connections/s", std::move(basis), "about " + format_rate(per_second) + "/s"};
}

Figure count_figure(std::string id,
                    std::string name,
                    std::optional<double> count,
                    std::string unit,
                    std::string basis) {
  Figure f{std::move(id), std::move(name), count, unit, std::move(basis), "unknown"};
  if (count) f.display = fmt::format("{} {}", static_cast<long long>(*count), unit);
  return f;
}

Topic close_wait_topic(const core::KernelSettings& k) {
  Topic t;
  t.id = "close-wait";
  t.title = "CLOSE_WAIT";
  t.summary = "The peer has closed its side (sent FIN, which this kernel ACKed by itself) and "
              "the application here has not called close() yet.";
  t.settings = {keepalive_time(k), keepalive_intvl(k), keepalive_probes(k), retries2(k),
                rto_max_ms(k)};
  const int first = keepalive_first_probe_seconds(k);
  t.figures = {
      seconds_figure("close_wait_without_keepalive", "Without SO_KEEPALIVE (the default)",
                     std::nullopt,
                     "No timer runs: it lasts until the application calls close() or "
                     "shutdown(SHUT_WR), the peer sends a RST, data the application writes goes "
                     "unacknowledged, or someone destroys it with ss -K."),
      seconds_figure("close_wait_keepalive_peer_gone", "SO_KEEPALIVE, peer socket gone", first,
                     fmt::format("The first probe after tcp_keepalive_time idle draws a RST "
                                 "(the timer can fire late by {}). The socket goes to CLOSE; its "
                                 "fd stays open until close().",
                                 timer_slack_clause(k, first))),
      seconds_figure("close_wait_keepalive_peer_alive", "SO_KEEPALIVE, peer socket still open",
                     std::nullopt,
                     "The peer half-closed (shutdown(SHUT_WR)) or still owns its FIN_WAIT2: "
                     "it answers every probe, so CLOSE_WAIT never ends."),
      seconds_figure("close_wait_keepalive_peer_unreachable", "SO_KEEPALIVE, peer unreachable",
                     keepalive_abort_seconds(k),
                     "tcp_keepalive_time + tcp_keepalive_probes x tcp_keepalive_intvl; then "
                     "ETIMEDOUT and CLOSE, and the fd stays open until close()."),
      seconds_figure("close_wait_unacked_writes", "Unacknowledged data written by the app",
                     retries2_timeout_seconds(k),
                     fmt::format("Minimum retransmission time allowed by tcp_retries2, with "
                                 "tcp_rto_max = {}; TCP_USER_TIMEOUT overrides it. A peer that "
                                 "keeps answering zero-window probes is never timed out this "
                                 "way.",
                                 format_seconds(rto_max_seconds(k)))),
  };
  t.facts = {
      {"A socket enters CLOSE_WAIT when the peer's FIN arrives in order; the kernel ACKs it "
       "without the application, possibly after the delayed-ACK timer.",
       std::string(cite::kTcpFin)},
      {"It leaves CLOSE_WAIT when the application calls close() or shutdown() with SHUT_WR or "
       "SHUT_RDWR; shutdown(SHUT_RD) leaves it in CLOSE_WAIT. The last close() of a shared fd is "
       "what counts, so an fd inherited by a child (no SOCK_CLOEXEC) keeps it alive.",
       std::string(cite::kShutdown)},
      {"Recv-Q on a CLOSE_WAIT socket shows how far the application got: 1 = it has not read "
       "the end of stream, 0 = it consumed the FIN but never closed, more = unread data, and "
       "close() will then send a RST instead of a FIN. Recv-Q 0 does not prove recv() returned "
       "0: a read of the last data byte also consumes a FIN that arrived in the same segment.",
       std::string(cite::kRecvmsg)},
      {"While EOF is unread or ignored, poll/epoll keep reporting EPOLLIN|EPOLLRDHUP, so a "
       "level-triggered loop that ignores EOF spins at 100% CPU.",
       "net/ipv4/tcp.c: tcp_poll() (v6.19)"},
      {"A CLOSE_WAIT with no owning process (inode 0) is a connection still in a listener's "
       "accept queue; the listener is not calling accept() fast enough.",
       std::string(cite::kCloneLock)},
      {"A RST from the peer ends CLOSE_WAIT with EPIPE, which is why writing to a stale pooled "
       "connection fails with \"Broken pipe\". The socket goes to CLOSE and leaves ss, but the "
       "fd stays open until close(); read() then returns 0.",
       std::string(cite::kTcpReset) + "; " + std::string(cite::kTcpDone)},
      {"Besides close() and shutdown(), the kernel ends a CLOSE_WAIT by itself on a RST from the "
       "peer, a keepalive timeout (SO_KEEPALIVE only), a retransmission timeout of data the "
       "application wrote, or SOCK_DESTROY (ss -K); each leaves the socket in CLOSE with its fd "
       "open. " +
           sock_destroy_sentence(k),
       std::string(cite::kTcpReset) + "; " + std::string(cite::kSockDestroy)},
      {"A server-side CLOSE_WAIT uses no ephemeral port (it shares the listening port); it "
       "costs a file descriptor and memory. Only client-side connections hold an ephemeral "
       "port.",
       "net/ipv4/inet_hashtables.c: __inet_inherit_port(), __inet_hash_connect() (v6.19)"},
      {close_wait_fix_sentence(), "net/ipv4/tcp.c: tcp_recvmsg_locked() found_fin_ok (v6.19)"},
  };
  t.myths = {
      {"The kernel acknowledges the peer's FIN only once the application agrees to close; until "
       "then the peer waits for that ACK.",
       "The kernel ACKs the FIN by itself, at once or after the delayed-ACK timer, and the peer "
       "moves to FIN_WAIT2. What the application's close() adds is this side's own FIN; a "
       "CLOSE_WAIT is an application that has not closed, not an ACK the kernel held back.",
       std::string(cite::kTcpFin), true,
       "The kernel ACKs the FIN by itself; CLOSE_WAIT waits for close(), not for an ACK."},
      {"The kernel probes idle connections, so a CLOSE_WAIT lasts at most tcp_keepalive_time + "
       "tcp_keepalive_probes x tcp_keepalive_intvl = 7200 + 9 x 75 = 7875 s.",
       fmt::format("Probes are sent only on sockets whose application set SO_KEEPALIVE, which is "
                   "off by default, so by default CLOSE_WAIT has no time limit. With "
                   "SO_KEEPALIVE: a peer whose socket is gone answers the first probe (at {}) "
                   "with a RST; a peer whose socket still exists answers every probe and "
                   "CLOSE_WAIT never ends; only a peer that answers nothing gives {}. Even then "
                   "the socket only goes to CLOSE and the fd stays open until close().",
                   format_seconds(first), format_seconds(keepalive_abort_seconds(k))),
       std::string(cite::kKeepaliveTimer), true,
       "Keepalive probes only SO_KEEPALIVE sockets (off by default): without it CLOSE_WAIT "
       "has no time limit."},
      {"Lower the keepalive sysctls (or TCP_KEEPIDLE) to clear CLOSE_WAIT sockets sooner.",
       "Without SO_KEEPALIVE they change nothing, and TCP_KEEPIDLE does not enable keepalive. "
       "With it, they only turn a leaked CLOSE_WAIT into a leaked CLOSE socket whose fd and "
       "memory remain. The leak is fixed in the application.",
       "net/ipv4/tcp.c: do_tcp_setsockopt(), tcp_sock_set_keepidle_locked() (v6.19)", true,
       "They do nothing without SO_KEEPALIVE; the fix is close() in the application."},
      {"CLOSE_WAIT sockets occupy ports, and too many exhaust the available ports.",
       "Only client-side (outgoing, pooled) connections hold an ephemeral port. A server-side "
       "CLOSE_WAIT shares the listening port; what runs out is file descriptors (EMFILE, \"Too "
       "many open files\"), memory, or, for unaccepted ones, the accept queue.",
       std::string(cite::kHashConnect), true,
       "Only client-side CLOSE_WAIT holds an ephemeral port; server-side ones cost fds."},
      {"Killing the socket with ss -K fixes the leak.",
       sock_destroy_sentence(k) +
           " On a CLOSE_WAIT it sends a RST and moves the socket to CLOSE, but the "
           "application's fd stays open until it calls close().",
       std::string(cite::kSockDestroy)},
  };
  return t;
}

Topic time_wait_topic(const core::KernelSettings& k) {
  Topic t;
  t.id = "time-wait";
  t.title = "TIME_WAIT";
  t.summary = "The side that closed first keeps a small TIME_WAIT entry for the 4-tuple after "
              "the last ACK; it has no file descriptor and no process.";
  t.settings = {tw_reuse(k),   tw_reuse_delay_setting(k),
                timestamps(k), max_tw_buckets(k),
                rfc1337(k),    fin_timeout(k),
                tw_timeout(k), tw_recycle(k)};
  const int tw = time_wait_seconds(k);
  const auto ext = [&](const char* name) -> std::optional<double> {
    const auto it = k.tcp_ext.find(name);
    if (it == k.tcp_ext.end()) return std::nullopt;
    return static_cast<double>(it->second);
  };
  const auto opt = [](const auto& v) -> std::optional<double> {
    if (!v) return std::nullopt;
    return static_cast<double>(*v);
  };
  t.figures = {
      seconds_figure("time_wait_length", "TIME_WAIT length", tw,
                     k.tcp_tw_timeout ? "net.ipv4.tcp_tw_timeout (Alibaba Cloud Linux)"
                                      : "TCP_TIMEWAIT_LEN, fixed at compile time"),
      hz_figure("time_wait_longest", "Longest without restarts", latest(k, tw),
                fmt::format("Timer-wheel slack can delay expiry by {}; an in-window bare ACK or "
                            "a rejected segment carrying an ACK restarts the full length.",
                            timer_slack_clause(k, tw))),
      reuse_delay_figure(k),
      count_figure("time_wait_entries", "TIME_WAIT + FIN_WAIT2 entries now", opt(k.sockstat_tw),
                   "sockets", "/proc/net/sockstat tw, this network namespace"),
      count_figure("time_wait_limit", "Limit (tcp_max_tw_buckets)", opt(k.tcp_max_tw_buckets),
                   "sockets", "Per network namespace"),
      count_figure("time_wait_overflows", "Closes that skipped TIME_WAIT",
                   ext("TCPTimeWaitOverflow"), "events", tw_overflow_sentence(k)),
      count_figure("time_wait_reused", "TIME_WAIT 4-tuples reused by connect()", ext("TWRecycled"),
                   "events",
                   "TcpExtTWRecycled (\"recycled by time stamp\"): tcp_tw_reuse or an "
                   "explicitly bound port"),
  };
  const bool six_zero = kernel_at_least(k, 6, 0);
  t.facts = {
      {time_wait_lifetime_sentence(k), std::string(cite::kTimeWaitLen)},
      {"The full 60 s restarts on an in-window bare ACK, on an out-of-window segment that "
       "carries an ACK (a retransmitted FIN, stray data) and on a segment PAWS rejects; never on "
       "a RST, and not on an ACK-less SYN that passes PAWS. An in-window RST ends it early unless "
       "tcp_rfc1337=1, and a new SYN with a higher sequence number or newer timestamp replaces "
       "it.",
       std::string(cite::kTimeWaitRestart)},
      {"Some closes skip TIME_WAIT: with SO_LINGER on and a linger time of 0, close() sends a RST "
       "and goes straight to CLOSE (TcpExtTCPAbortOnData), and close() with unread data does "
       "the same (TcpExtTCPAbortOnClose). A non-zero linger time only makes close() wait; when "
       "it runs out no RST is sent and the close continues as usual.",
       std::string(cite::kLinger)},
      {"tcp_tw_reuse is consulted only by connect(); it needs timestamps on both ends of the "
       "old connection. A server-side TIME_WAIT is handled when the client's new SYN arrives, "
       "without this sysctl.",
       std::string(cite::kTwReuse) + "; net/ipv4/inet_hashtables.c: __inet_check_established()"},
      {"FIN_WAIT2 entries are never reused by tcp_tw_reuse (since 6.12, commit 0d9e5df4a257), "
       "and an application that bind()s the local port explicitly reuses TIME_WAIT entries with "
       "timestamps whatever tcp_tw_reuse says.",
       std::string(cite::kTwReuse)},
      {"When tcp_max_tw_buckets is reached the closing socket skips TIME_WAIT: no RST, no log "
       "line; only TcpExtTCPTimeWaitOverflow increments (nstat -az TcpExtTCPTimeWaitOverflow).",
       std::string(cite::kTwOverflow)},
      {std::string(six_zero ? "ss -K can remove TIME_WAIT entries on kernels from 6.0, as this "
                              "one is"
                   : kernel_before(k, 6, 0) ? "ss -K cannot remove TIME_WAIT entries on this "
                                              "kernel (supported since 6.0)"
                                            : "ss -K can remove TIME_WAIT entries since 6.0") +
           ". " + sock_destroy_sentence(k),
       std::string(cite::kSockDestroy)},
  };
  t.myths = {
      {"TIME_WAIT lasts 2 x MSL, 1 to 4 minutes (MSL = 2 minutes).",
       fmt::format("Linux uses a fixed 60 s (TCP_TIMEWAIT_LEN), not MSL; timer slack adds {}, "
                   "and an in-window bare ACK or a rejected segment carrying an ACK restarts "
                   "it. 2 x MSL = 4 min is RFC 793's figure; other systems use other values.",
                   timer_slack_clause(k, kTimeWaitSeconds)),
       std::string(cite::kTimeWaitLen), true,
       "Linux holds TIME_WAIT a fixed 60 s (TCP_TIMEWAIT_LEN), not MSL: 2 x MSL is RFC 793's."},
      {"tcp_fin_timeout shortens TIME_WAIT.",
       "It applies only to orphaned FIN_WAIT2 sockets and has no effect on TIME_WAIT. Upstream "
       "Linux has no TIME_WAIT length sysctl (only Alibaba Cloud Linux 2/3 add tcp_tw_timeout).",
       std::string(cite::kFinTime)},
      {"Enable tcp_tw_recycle to recycle TIME_WAIT sockets fast.", tw_recycle_truth(k),
       std::string(cite::kTwRecycleRemoved), true,
       "tcp_tw_recycle was removed in Linux 4.12: it broke clients behind NAT."},
      {"With tcp_tw_reuse=1 the client can reuse a TIME_WAIT port after 1 s.",
       fmt::format("Values are 0, 1 and 2 (2 = loopback only, the default since 4.18); it "
                   "applies to connect() only, needs timestamps on both ends, and frees a "
                   "4-tuple, not a port. Delay on this kernel: {}.",
                   tw_reuse_delay(k).text),
       std::string(cite::kTwReuse), true,
       fmt::format("connect() only, timestamps on both ends, per 4-tuple; delay here: {}.",
                   tw_reuse_delay(k).text)},
      {"A full TIME_WAIT table logs \"TCP: time wait bucket table overflow\".",
       "Mainline only counts it (TcpExtTCPTimeWaitOverflow) in every version checked from 3.1 "
       "to 6.19; the message comes from old 2.6.x-era or vendor kernels. ip-sysctl.rst and "
       "tcp(7) are stale on this point.",
       std::string(cite::kTwOverflow)},
      {"Lower tcp_max_tw_buckets to get rid of TIME_WAIT sockets.",
       "Sockets over the limit silently skip TIME_WAIT and lose its protection of the 4-tuple, "
       "which is the risk the documentation warns about. TIME_WAIT costs no fd and little "
       "memory; if connect() runs out of 4-tuples, see `sockdoctor explain ports`.",
       "net/ipv4/inet_timewait_sock.c: inet_twsk_alloc() (v6.19)"},
  };
  return t;
}

Topic fin_wait2_topic(const core::KernelSettings& k) {
  Topic t;
  t.id = "fin-wait-2";
  t.title = "FIN_WAIT2";
  t.summary = "This side sent its FIN and the peer ACKed it, but the peer has not sent its own "
              "FIN yet.";
  t.settings = {fin_timeout(k), max_tw_buckets(k)};
  const int tmo = fin_timeout_seconds(k);
  t.figures = {
      seconds_figure("fin_wait2_orphaned", "Orphaned FIN_WAIT2 (after close())",
                     orphan_fin_wait2_seconds(k),
                     tmo <= kTimeWaitSeconds
                         ? "tcp_fin_timeout, as a FIN_WAIT2 mini-socket (ss: FIN-WAIT-2 "
                           "timer:(timewait,...)); never less than 3.5 x RTO; TCP_LINGER2 "
                           "overrides it per socket"
                         : "2 x (tcp_fin_timeout - 60): first as a full socket on the keepalive "
                           "timer, then as a mini-socket (a kernel quirk as of v6.19)"),
      seconds_figure("fin_wait2_owned", "FIN_WAIT2 after shutdown(SHUT_WR), fd open", std::nullopt,
                     "No timer: it waits for the peer's FIN indefinitely unless SO_KEEPALIVE "
                     "finds the peer dead."),
  };
  t.facts = {
      {fin_wait2_lifetime_sentence(k, true), std::string(cite::kFinTime)},
      {"A FIN_WAIT2 socket whose application only did shutdown(SHUT_WR) and still holds the fd "
       "has no timer: it waits for the peer's FIN indefinitely, unless SO_KEEPALIVE finds the "
       "peer dead.",
       "net/ipv4/tcp_input.c: tcp_rcv_state_process() case TCP_FIN_WAIT1 (v6.19)"},
      {"An orphaned FIN_WAIT2 mini-socket counts in /proc/net/sockstat tw and against "
       "tcp_max_tw_buckets. When its timer expires it is freed silently; a FIN arriving later "
       "gets a RST.",
       std::string(cite::kTimeWaitProcess)},
      {"TCP_LINGER2 sets the wait per socket; a negative value sends a RST instead of waiting. "
       "It is clamped to 120 s in 5.15 and 6.19.",
       "include/net/tcp.h: tcp_fin_time(), TCP_FIN_TIMEOUT_MAX (v6.19)"},
  };
  t.myths = {
      {"tcp_fin_timeout=30 limits how long any socket waits in FIN_WAIT_2.",
       "Only orphaned sockets (after close()). After shutdown(SHUT_WR) with the fd still open "
       "there is no timer at all. The default is 60 s, and the value has no effect on "
       "TIME_WAIT.",
       std::string(cite::kFinTime), true,
       "tcp_fin_timeout bounds only orphaned FIN_WAIT2 (after close()), not shutdown() ones."},
      {"\"timer:(keepalive,...)\" on a FIN-WAIT-2 socket in ss means SO_KEEPALIVE is on.",
       "The same timer slot also carries the orphaned FIN_WAIT2 timer when tcp_fin_timeout is "
       "above 60 s.",
       "net/ipv4/inet_diag.c: inet_sk_diag_fill() (v6.19)"},
  };
  return t;
}

Topic keepalive_topic(const core::KernelSettings& k) {
  Topic t;
  t.id = "keepalive";
  t.title = "TCP keepalive";
  t.summary = "Probes on idle connections, sent only for sockets whose application set "
              "SO_KEEPALIVE.";
  t.settings = {keepalive_time(k), keepalive_intvl(k), keepalive_probes(k)};
  const int first = keepalive_first_probe_seconds(k);
  t.figures = {
      seconds_figure("keepalive_first_probe", "First probe after", first,
                     "tcp_keepalive_time, idle counted from the last packet received"),
      hz_figure("keepalive_first_probe_latest", "First probe at the latest", latest(k, first),
                fmt::format("Long timers land in coarse timer-wheel levels and can fire late "
                            "by {}; timers never fire early.",
                            timer_slack_clause(k, first))),
      seconds_figure("keepalive_abort", "Abort when nothing answers", keepalive_abort_seconds(k),
                     "tcp_keepalive_time + tcp_keepalive_probes x tcp_keepalive_intvl, then "
                     "ETIMEDOUT"),
  };
  t.facts = {
      {keepalive_sentence(k), std::string(cite::kKeepaliveTimer)},
      {"The timer probes in any state but CLOSE and SYN_SENT, CLOSE_WAIT included, but not while "
       "sent data is unacknowledged: then retransmission (tcp_retries2 or TCP_USER_TIMEOUT) "
       "decides.",
       std::string(cite::kKeepaliveTimer)},
      {"TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT override the sysctls per socket but do not "
       "enable keepalive; SO_KEEPALIVE is still required. The sysctls are per network namespace "
       "and read each time the timer fires.",
       "net/ipv4/tcp.c: do_tcp_setsockopt(); include/net/tcp.h: keepalive_time_when() (v6.19)"},
      {"With TCP_USER_TIMEOUT set, the connection is aborted once a probe has gone unanswered "
       "and the idle time reaches the user timeout; TCP_KEEPCNT is then ignored.",
       std::string(cite::kKeepaliveTimer)},
      {"A keepalive failure does not release the socket: it goes to CLOSE and leaves ss, but the "
       "struct sock, the file and the fd stay until close(); write() fails with ETIMEDOUT once, "
       "then EPIPE.",
       "net/ipv4/tcp_timer.c: tcp_write_err(); " + std::string(cite::kTcpDone)},
  };
  t.myths = {
      {"tcp_keepalive_time is how often keepalive probes are sent.",
       "It is the idle time before the first probe; tcp_keepalive_intvl spaces the following "
       "ones. ip-sysctl.rst's wording (\"how often\") is wrong.",
       "include/net/tcp.h: keepalive_time_when(), keepalive_intvl_when() (v6.19)"},
      {"The kernel probes every idle connection and cleans up dead ones.",
       "Only sockets with SO_KEEPALIVE, which is off by default (some runtimes such as Go turn it "
       "on). Everything else is never probed.",
       std::string(cite::kKeepaliveTimer), true,
       "Only SO_KEEPALIVE sockets are probed; everything else never is."},
      {"Keepalive releases a CLOSE_WAIT socket after about 2 hours.",
       "Only with SO_KEEPALIVE, and then the socket only goes to CLOSE: the application's fd "
       "stays open until it calls close(). If the peer's socket still exists, probes are "
       "answered and nothing ends.",
       std::string(cite::kKeepaliveTimer), true,
       "Only with SO_KEEPALIVE, and even then the fd stays open until the application "
       "closes it."},
  };
  return t;
}

} // namespace parts

const std::vector<std::string_view>& topic_ids() {
  static const std::vector<std::string_view> ids = {"close-wait",   "time-wait", "fin-wait-2",
                                                    "keepalive",    "ports",     "orphans",
                                                    "listen-queue", "kill"};
  return ids;
}

std::optional<std::string> normalize_topic(std::string_view word) {
  std::string w;
  for (char c : word) {
    if (c == '_' || c == ' ') c = '-';
    w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  static const std::vector<std::pair<std::string_view, std::string_view>> aliases = {
      {"closewait", "close-wait"},  {"timewait", "time-wait"},  {"fin-wait2", "fin-wait-2"},
      {"finwait2", "fin-wait-2"},   {"fin-wait", "fin-wait-2"}, {"port", "ports"},
      {"ephemeral-ports", "ports"}, {"orphan", "orphans"},      {"listen", "listen-queue"},
      {"backlog", "listen-queue"},  {"destroy", "kill"},        {"ss-k", "kill"}};
  for (const auto& [from, to] : aliases)
    if (w == from) return std::string(to);
  if (w == "all") return w;
  const auto& ids = topic_ids();
  if (std::find(ids.begin(), ids.end(), w) != ids.end()) return w;
  return std::nullopt;
}

std::optional<Topic> build_topic(std::string_view id, const core::KernelSettings& k) {
  if (id == "close-wait") return parts::close_wait_topic(k);
  if (id == "time-wait") return parts::time_wait_topic(k);
  if (id == "fin-wait-2") return parts::fin_wait2_topic(k);
  if (id == "keepalive") return parts::keepalive_topic(k);
  if (id == "ports") return parts::ports_topic(k);
  if (id == "orphans") return parts::orphans_topic(k);
  if (id == "listen-queue") return parts::listen_queue_topic(k);
  if (id == "kill") return parts::kill_topic(k);
  return std::nullopt;
}

std::vector<Topic> build_all_topics(const core::KernelSettings& k) {
  std::vector<Topic> out;
  for (const auto id : topic_ids())
    out.push_back(*build_topic(id, k));
  return out;
}

} // namespace sockdoctor::analyze
