// lab keepalive: what SO_KEEPALIVE does and does not do to CLOSE_WAIT (kernel-facts section 2),
// with per-socket TCP_KEEPIDLE/KEEPINTVL/KEEPCNT so that hours become seconds.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "analyze/knowledge.hpp"
#include "lab/lab.hpp"

namespace sockdoctor::lab {
namespace {

struct Timing {
  double close_at; // when the server closes its three connections
  int fin_timeout; // net.ipv4.tcp_fin_timeout: the server's orphans go before the first probe
  int keepidle;    // TCP_KEEPIDLE on B and C
  int keepintvl;   // TCP_KEEPINTVL
  int keepcnt;     // TCP_KEEPCNT
  double hold;     // watching after B's probe was due
};

constexpr Timing kNormal{2, 10, 15, 5, 3, 5};
constexpr Timing kFast{1, 3, 5, 1, 3, 2.5};
constexpr int kConns = 3; // A: no keepalive; B: keepalive, peer closed; C: keepalive, peer open
constexpr std::array<const char*, kConns> kNames = {"a", "b", "c"};

// Accepts three connections; on "close": close() A and B, shutdown(SHUT_WR) C and keep it.
int server_body(LineChannel& io, std::uint16_t port) {
  auto lfd = listen_loopback(port, 8);
  if (!lfd) {
    (void)io.write_line("error " + lfd.error().message);
    return 1;
  }
  (void)io.write_line("listening");
  std::array<int, kConns> fds{};
  for (int i = 0; i < kConns; ++i) {
    pollfd p[2] = {{*lfd, POLLIN, 0}, {io.fd(), POLLIN, 0}};
    while ((p[0].revents & POLLIN) == 0) {
      ::poll(p, 2, 1000);
      if ((p[1].revents & (POLLIN | POLLHUP)) != 0 && !io.pump()) return 0;
    }
    fds[i] = ::accept4(*lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fds[i] < 0) {
      (void)io.write_line(fmt::format("error accept: {}", std::strerror(errno)));
      return 1;
    }
  }
  (void)io.write_line("accepted");
  for (;;) {
    auto cmd = io.read_line(3600);
    if (!cmd || !*cmd) return 0;
    if (**cmd != "close") continue;
    ::close(fds[0]);
    ::close(fds[1]);
    ::shutdown(fds[2], SHUT_WR);
    (void)io.write_line("closed " + mono_stamp());
  }
}

void set_keepalive(int fd, const Timing& t) {
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &t.keepidle, sizeof t.keepidle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &t.keepintvl, sizeof t.keepintvl);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &t.keepcnt, sizeof t.keepcnt);
}

// Connects A (plain), B and C (SO_KEEPALIVE) and never closes them. On "status" it answers
// "status" + per socket: the kernel's TCP state (tcp_info) and the first SO_ERROR it saw.
int client_body(LineChannel& io, std::uint16_t port, const Timing& t) {
  std::array<int, kConns> fds{};
  std::array<int, kConns> errs{};
  std::string ports;
  for (int i = 0; i < kConns; ++i) {
    std::uint16_t local = 0;
    auto fd = connect_loopback(port, &local);
    if (!fd) {
      (void)io.write_line("error " + fd.error().message);
      return 1;
    }
    if (i > 0) set_keepalive(*fd, t);
    fds[i] = *fd;
    ports += fmt::format(" {} {}", local, *fd);
  }
  (void)io.write_line("connected" + ports);
  for (;;) {
    auto cmd = io.read_line(3600);
    if (!cmd || !*cmd) return 0;
    if (**cmd != "status") continue;
    std::string out = "status";
    for (int i = 0; i < kConns; ++i) {
      tcp_info info{};
      socklen_t len = sizeof info;
      const int st = ::getsockopt(fds[i], IPPROTO_TCP, TCP_INFO, &info, &len) == 0
                         ? static_cast<int>(info.tcpi_state)
                         : -1;
      int err = 0;
      len = sizeof err;
      ::getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len); // reading clears it: keep the first
      if (errs[i] == 0) errs[i] = err;
      out += fmt::format(" {} {}", st, errs[i]);
    }
    (void)io.write_line(out);
  }
}

struct ClientSide {
  std::array<std::uint16_t, kConns> port{};
  std::array<int, kConns> fd{};
};

struct Status {
  std::array<int, kConns> state{};
  std::array<int, kConns> err{};
};

core::Result<Status> query(Child& client) {
  if (auto w = client.channel().write_line("status"); !w) return tl::unexpected(w.error());
  auto line = client.expect("status", 5);
  if (!line) return tl::unexpected(line.error());
  Status s;
  std::istringstream in(line->substr(6));
  for (int i = 0; i < kConns; ++i)
    in >> s.state[i] >> s.err[i];
  return s;
}

struct Marks {
  double closed = -1;
  std::array<Change, 2> server_gone;          // A's and B's orphans
  std::array<double, 2> first_absent{-1, -1}; // not confirmed yet (see watch())
  Change b_reset;
  int b_err = 0;
  double c_probed = -1;
  std::uint64_t probes_at_start = 0;
};

std::uint64_t keepalive_probes(const core::KernelSettings& k) {
  auto it = k.tcp_ext.find("TCPKeepAlive");
  return it == k.tcp_ext.end() ? 0 : it->second;
}

// sock_diag's view of one client end; "close" when the kernel unhashed it but the fd is open.
std::string client_state(const Observer& obs, const Tuple& t, int tcpi_state) {
  std::string s = obs.state_of(t);
  if (s == "gone" && tcpi_state == static_cast<int>(core::TcpState::Close)) s = "close";
  return s;
}

core::Result<Marks>
watch(Env& env, Child& server, Child& client, const ClientSide& cs, const Timing& t) {
  auto& rec = env.rec;
  Observer obs;
  Ticker tick(rec);
  Marks m;
  if (auto k = namespace_settings()) m.probes_at_start = keepalive_probes(*k);
  std::array<Tuple, kConns> tuples;
  for (int i = 0; i < kConns; ++i)
    tuples[i] = {loopback(cs.port[i]), loopback(kServerPort)};
  double end = t.close_at + t.keepidle + t.hold;
  while (rec.elapsed() < end + 10) {
    std::vector<Event> ev;
    if (m.closed < 0 && rec.elapsed() >= t.close_at) {
      if (auto w = server.channel().write_line("close"); !w) return tl::unexpected(w.error());
      auto line = server.expect("closed ", 5);
      if (!line) return tl::unexpected(line.error());
      const auto stamp = parse_mono_stamp(line->substr(7));
      m.closed = stamp ? rec.at(*stamp) : rec.elapsed();
      ev.push_back({"server_closed", "the server close()s A and B (orphaned FIN_WAIT2 on its side) "
                                     "and shutdown(SHUT_WR)s C, keeping C's socket open"});
    }
    if (auto r = obs.refresh(); !r) return tl::unexpected(r.error());
    auto st = query(client);
    if (!st) return tl::unexpected(st.error());
    const auto k = namespace_settings();
    const std::int64_t probes =
        k ? static_cast<std::int64_t>(keepalive_probes(*k) - m.probes_at_start) : 0;
    const double now = rec.elapsed();
    std::vector<std::pair<std::string, std::string>> states;
    for (int i = 0; i < kConns; ++i) {
      const std::string c = client_state(obs, tuples[i], st->state[i]);
      const std::string s = obs.state_of(tuples[i].reversed());
      states.push_back({fmt::format("{}_client", kNames[i]), c});
      states.push_back({fmt::format("{}_server", kNames[i]), s});
      if (m.closed >= 0 && i < 2 && !m.server_gone[i].seen()) {
        // A sock_diag dump resumed mid-bucket can miss a socket that moves between chains
        // (an orphan becoming a timewait mini-socket): gone counts once two dumps agree, and
        // dates from the first of them.
        if (s != "gone") {
          m.first_absent[i] = -1;
          m.server_gone[i].sample(now, false);
        } else if (m.first_absent[i] < 0) {
          m.first_absent[i] = now;
        } else {
          m.server_gone[i].sample(m.first_absent[i], true);
        }
        if (m.server_gone[i].seen())
          ev.push_back(
              {"server_orphan_gone",
               fmt::format("{}: the server's orphaned FIN_WAIT2 was freed {} after the "
                           "close (tcp_fin_timeout {} s)",
                           i == 0 ? "A" : "B", m.server_gone[i].since(m.closed), t.fin_timeout)});
      }
      if (i == 1 && m.closed >= 0 && !m.b_reset.seen()) {
        m.b_reset.sample(now, c == "close");
        if (m.b_reset.seen()) {
          m.b_err = st->err[i];
          end = std::min(end, now + t.hold);
          ev.push_back(
              {"b_reset", fmt::format("B: the first keepalive probe, {} after the server's FIN, "
                                      "drew a RST: the socket is CLOSE (gone from sock_diag), "
                                      "SO_ERROR {}, but fd {} is still open in pid {}",
                                      m.b_reset.since(m.closed),
                                      st->err[i] == EPIPE ? "EPIPE" : std::to_string(st->err[i]),
                                      cs.fd[i], client.pid())});
        }
      }
    }
    if (m.b_reset.seen() && m.c_probed < 0 && probes >= 2 && states[4].second == "close_wait") {
      m.c_probed = now;
      ev.push_back({"c_probe_answered", "C: its probe was answered by the server's open socket "
                                        "(FIN_WAIT2 after shutdown): CLOSE_WAIT goes on"});
    }
    tick.offer(std::move(states), {{"probes", probes}}, std::move(ev));
    if (m.b_reset.seen() && m.c_probed >= 0 && now >= end) break;
    if (auto s = sleep_for(0.25); !s) return tl::unexpected(s.error());
  }
  return m;
}

bool fd_is_socket(pid_t pid, int fd) {
  std::error_code ec;
  const auto target = std::filesystem::read_symlink(fmt::format("/proc/{}/fd/{}", pid, fd), ec);
  return !ec && target.string().rfind("socket:[", 0) == 0;
}

void record(Env& env,
            const Marks& m,
            const Timing& t,
            const ClientSide& cs,
            pid_t client_pid,
            pid_t server_pid,
            const Observer& obs,
            const Diagnosed& d) {
  auto& rec = env.rec;
  const auto state = [&](int i, bool client) {
    const Tuple tu{loopback(cs.port[i]), loopback(kServerPort)};
    return obs.state_of(client ? tu : tu.reversed());
  };
  const auto* a = obs.find({loopback(cs.port[0]), loopback(kServerPort)});
  rec.check("a_stays", "A (no SO_KEEPALIVE) stays in CLOSE_WAIT with no keepalive timer",
            fmt::format("{}, timer {}", display_state(state(0, true)),
                        a ? core::timer_name(a->timer) : "-"),
            a != nullptr && a->state == core::TcpState::CloseWait &&
                a->timer != core::TimerKind::Keepalive);
  rec.check("b_reset_by_probe",
            fmt::format("B (SO_KEEPALIVE, peer's socket gone) goes to CLOSE when the first probe, "
                        "TCP_KEEPIDLE {} s after the last packet received, draws a RST",
                        t.keepidle),
            "after " + m.b_reset.since(m.closed), m.b_reset.within(m.closed, t.keepidle, 0.5, 2));
  rec.check("b_epipe", "B's pending error is EPIPE (RST in CLOSE_WAIT)",
            m.b_err == 0 ? std::string("none") : std::string(std::strerror(m.b_err)),
            m.b_err == EPIPE);
  const bool open = fd_is_socket(client_pid, cs.fd[1]);
  rec.check(
      "b_fd_open", "B's fd stays open: the application still has to close() it",
      fmt::format("/proc/{}/fd/{} {}", client_pid, cs.fd[1], open ? "is a socket" : "is gone"),
      open);
  rec.check("c_stays",
            "C (SO_KEEPALIVE, peer's socket still open) stays in CLOSE_WAIT: probes are answered",
            fmt::format("{}; server end {}", display_state(state(2, true)),
                        display_state(state(2, false))),
            state(2, true) == "close_wait" && state(2, false) == "fin_wait2" && m.c_probed >= 0);
  rec.check("server_orphans_gone",
            fmt::format("the server's orphans of A and B are freed after tcp_fin_timeout ({} s)",
                        t.fin_timeout),
            fmt::format("after {} and {}", m.server_gone[0].since(m.closed),
                        m.server_gone[1].since(m.closed)),
            m.server_gone[0].within(m.closed, t.fin_timeout, 0.5, 2) &&
                m.server_gone[1].within(m.closed, t.fin_timeout, 0.5, 2));
  const auto* leak = find_finding(d.diagnosis, "close_wait_leak", client_pid);
  const auto* ka = leak ? leak->find("keepalive_timers") : nullptr;
  const bool ka1 = ka && std::holds_alternative<std::int64_t>(ka->value) &&
                   std::get<std::int64_t>(ka->value) == 1;
  rec.check("diagnosis_client",
            fmt::format("sockdoctor: pid {} (lab-client) holds 2 CLOSE_WAIT sockets, 1 with a "
                        "keepalive timer (B is CLOSE: no longer listed by the kernel)",
                        client_pid),
            leak ? leak->title : "no such finding", leak && leak->count == 2 && ka1);
  const auto* half = find_finding(d.diagnosis, "fin_wait2_half_closed", server_pid);
  rec.check(
      "diagnosis_server",
      fmt::format("sockdoctor: pid {} (lab-server) holds C's half-closed FIN_WAIT2", server_pid),
      half ? half->title : "no such finding", half && half->count == 1);
}

void lesson(Env& env, const Timing& t, const core::KernelSettings& k) {
  auto& rec = env.rec;
  rec.lesson("Keepalive timing (kernel defaults, as in this fresh namespace): " +
             analyze::keepalive_sentence(k) +
             fmt::format(" This lab used per-socket TCP_KEEPIDLE {} s, TCP_KEEPINTVL {} s and "
                         "TCP_KEEPCNT {}; none of them enables keepalive without SO_KEEPALIVE.",
                         t.keepidle, t.keepintvl, t.keepcnt));
  rec.lesson(
      "Probes are sent only on sockets with SO_KEEPALIVE, which is off by default, so A's "
      "CLOSE_WAIT is unbounded. With keepalive on and the peer's socket gone (B), the first probe "
      "draws a RST at about tcp_keepalive_time (7200 s by default, plus timer slack of " +
          analyze::timer_slack_clause(k, 7200) +
          "), not 7875 s; 7200 + 75 x 9 s applies only to a peer that answers nothing. If the "
          "peer's socket still exists (C), the probes are answered and CLOSE_WAIT never ends.",
      "The kernel probes idle connections, so CLOSE_WAIT lasts at most 7200 + 75 x 9 = 7875 s.",
      kTheGuide);
  rec.lesson(
      "Even when keepalive ends it, the socket only goes to CLOSE: the kernel unhashes it "
      "(ss and sockdoctor no longer list it) and sets SO_ERROR (EPIPE after a RST, ETIMEDOUT "
      "when nothing answers), but the fd, file "
      "and memory stay until the application calls close(). Lowering keepalive settings "
      "turns a leaked CLOSE_WAIT into a leaked CLOSE socket. " +
          analyze::close_wait_fix_sentence(),
      "Fix CLOSE_WAIT by lowering the keepalive parameters (TCP_KEEPIDLE).", kTheGuide);
}

} // namespace

core::Result<void> run_keepalive(Env& env) {
  auto& rec = env.rec;
  auto& r = rec.result();
  const Timing t = env.opt.fast ? kFast : kNormal;
  r.title = "SO_KEEPALIVE versus CLOSE_WAIT: without it, with the peer gone, with the peer open";
  const std::string fin = std::to_string(t.fin_timeout);
  if (auto s = write_sysctl("net.ipv4.tcp_fin_timeout", fin); !s) return s;
  r.sysctls.push_back({"net.ipv4.tcp_fin_timeout", fin});

  rec.start_clock();
  auto server = Child::fork_run("server", "lab-server",
                                [](LineChannel& io) { return server_body(io, kServerPort); });
  if (!server) return tl::unexpected(server.error());
  if (auto up = server->expect("listening", 5); !up) return tl::unexpected(up.error());
  auto client = Child::fork_run("client", "lab-client",
                                [t](LineChannel& io) { return client_body(io, kServerPort, t); });
  if (!client) return tl::unexpected(client.error());
  r.processes.push_back({"server", server->pid(), "lab-server"});
  r.processes.push_back({"client", client->pid(), "lab-client"});
  auto line = client->expect("connected", 5);
  if (!line) return tl::unexpected(line.error());
  if (auto acc = server->expect("accepted", 5); !acc) return tl::unexpected(acc.error());
  ClientSide cs;
  std::istringstream in(line->substr(9));
  for (int i = 0; i < kConns; ++i)
    in >> cs.port[i] >> cs.fd[i];

  r.setup.push_back(fmt::format(
      "pid {} (lab-client) holds three connections to pid {} (lab-server) and never closes them: "
      "A without SO_KEEPALIVE; B and C with SO_KEEPALIVE, TCP_KEEPIDLE {} s, TCP_KEEPINTVL {} s, "
      "TCP_KEEPCNT {}. At +{:.0f} s the server close()s A and B and shutdown(SHUT_WR)s C.",
      client->pid(), server->pid(), t.keepidle, t.keepintvl, t.keepcnt, t.close_at));
  const std::array<const char*, kConns> what = {"no SO_KEEPALIVE", "SO_KEEPALIVE, server closes",
                                                "SO_KEEPALIVE, server keeps its socket"};
  for (int i = 0; i < kConns; ++i) {
    const std::string up(1, static_cast<char>('A' + i));
    r.ends.push_back({fmt::format("{}_client", kNames[i]), up + " CLIENT",
                      fmt::format("127.0.0.1:{} -> 127.0.0.1:{}, fd {} ({})", cs.port[i],
                                  kServerPort, cs.fd[i], what[i])});
    r.ends.push_back({fmt::format("{}_server", kNames[i]), up + " SERVER",
                      fmt::format("its other end in pid {} (lab-server)", server->pid())});
  }
  r.count_keys = {"probes"};
  rec.begin_timeline();

  auto marks = watch(env, *server, *client, cs, t);
  if (!marks) return tl::unexpected(marks.error());
  Observer obs;
  if (auto o = obs.refresh(); !o) return o;
  auto d = diagnose_namespace();
  if (!d) return tl::unexpected(d.error());
  rec.diagnosis("A and C in CLOSE_WAIT; B is CLOSE with its fd still open", d->diagnosis);
  record(env, *marks, t, cs, client->pid(), server->pid(), obs, *d);
  lesson(env, t, d->kernel);
  return {};
}

} // namespace sockdoctor::lab
