// lab kill: a CLOSE_WAIT leak destroyed the way `sockdoctor kill --yes` does it (cookie-checked
// SOCK_DESTROY), and what the leaking process observes afterwards: its next read and writes,
// and its file descriptors, which stay open (kernel-facts section 10; docs/kernel-behaviour.md).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "analyze/kill_knowledge.hpp"
#include "analyze/knowledge.hpp"
#include "collect/sock_destroy.hpp"
#include "lab/lab.hpp"

namespace sockdoctor::lab {
namespace {

constexpr int kLeaks = 3;

struct Timing {
  double age;  // how long the leak ages before the dry run (the diagnosis needs >= 1 s)
  double hold; // watching after the destroy
};
constexpr Timing kNormal{3, 3};
constexpr Timing kFast{1.5, 1.5};

std::string errno_word(int e) {
  const char* name = strerrorname_np(e); // "ECONNABORTED"; null for an unknown number
  return name != nullptr ? name : std::to_string(e);
}

// What one call returned, as the leaker reports it: "EOF", "ok", "ECONNABORTED", "EAGAIN".
std::string call_result(ssize_t n, int err) {
  if (n == 0) return "EOF";
  if (n > 0) return "ok";
  return errno_word(err);
}

// Accepts the leaker's connections and closes each at once: the peer that closes first.
int server_body(LineChannel& io, std::uint16_t port) {
  auto lfd = listen_loopback(port, 16);
  if (!lfd) {
    (void)io.write_line("error " + lfd.error().message);
    return 1;
  }
  (void)io.write_line("listening");
  for (int i = 0; i < kLeaks; ++i) {
    pollfd p[2] = {{*lfd, POLLIN, 0}, {io.fd(), POLLIN, 0}};
    while ((p[0].revents & POLLIN) == 0) {
      ::poll(p, 2, 1000);
      if ((p[1].revents & (POLLIN | POLLHUP)) != 0 && !io.pump()) return 0;
    }
    const int fd = ::accept4(*lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) ::close(fd);
  }
  (void)io.write_line("closed");
  while (io.pump()) {
    pollfd p{io.fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
  }
  return 0;
}

// One socket after the destroy: poll() events, recv(), send() twice, whether the fd is open.
std::string observe(int fd) {
  pollfd p{fd, POLLIN | POLLOUT | POLLRDHUP, 0};
  ::poll(&p, 1, 0);
  std::string ev;
  for (auto [bit, name] : {std::pair{POLLIN, "IN"},
                           {POLLOUT, "OUT"},
                           {POLLERR, "ERR"},
                           {POLLHUP, "HUP"},
                           {POLLRDHUP, "RDHUP"}})
    if ((p.revents & bit) != 0) ev += (ev.empty() ? "" : "|") + std::string(name);
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  const std::string recv_r = call_result(n, errno);
  n = ::send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  const std::string send1 = call_result(n, errno);
  n = ::send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  const std::string send2 = call_result(n, errno);
  const bool open = ::fcntl(fd, F_GETFD) >= 0;
  return fmt::format("fd={} poll={} recv={} send={} send2={} open={}", fd, ev.empty() ? "-" : ev,
                     recv_r, send1, send2, open ? "yes" : "no");
}

// Connects kLeaks times and never reads nor closes: the leak. On "probe" it reports what each
// socket does now, one line each, then keeps holding them.
int leaker_body(LineChannel& io, std::uint16_t port) {
  std::array<int, kLeaks> fds{};
  if (!connect_and_report(io, port, fds)) return 1;
  for (;;) {
    auto cmd = io.read_line(3600);
    if (!cmd || !*cmd) return 0;
    if (**cmd != "probe") continue;
    for (int fd : fds)
      (void)io.write_line("observed " + observe(fd));
  }
}

// A field of an "observed ..." line: "send=ECONNABORTED" -> "ECONNABORTED".
std::string field(const std::string& line, std::string_view key) {
  const auto at = line.find(std::string(key) + "=");
  if (at == std::string::npos) return {};
  const auto start = at + key.size() + 1;
  return line.substr(start, line.find(' ', start) - start);
}

struct Marks {
  bool all_close_wait = false, dry_run_untouched = false;
  std::vector<std::string> results;  // per leak, collect::outcome_name
  std::vector<std::string> observed; // per leak, the leaker's report
  bool tuples_gone = false, server_ends_gone = false;
};

std::vector<std::pair<std::string, std::string>> states(const Observer& obs,
                                                        const std::vector<Tuple>& leaks) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < leaks.size(); ++i) {
    out.push_back({fmt::format("leak{}", i + 1), obs.state_of(leaks[i])});
    out.push_back({fmt::format("peer{}", i + 1), obs.state_of(leaks[i].reversed())});
  }
  return out;
}

// After the destroy: a leak that left the table is CLOSE, not gone, since the leaker holds its fd.
std::vector<std::pair<std::string, std::string>> held_states(const Observer& obs,
                                                             const std::vector<Tuple>& leaks) {
  auto st = states(obs, leaks);
  for (auto& [key, state] : st)
    if (key.rfind("leak", 0) == 0 && state == "gone") state = "close";
  return st;
}

core::Result<void>
wait_close_wait(Env& env, const std::vector<Tuple>& leaks, const Timing& t, Marks& m) {
  Observer obs;
  Ticker tick(env.rec);
  while (env.rec.elapsed() < t.age + 10) {
    if (auto r = obs.refresh(); !r) return r;
    bool all = true;
    for (const auto& l : leaks)
      all = all && obs.state_of(l) == "close_wait";
    std::vector<Event> ev;
    if (all && !m.all_close_wait)
      ev.push_back({"client_close_wait", fmt::format("the server closed all {} connections; "
                                                     "lab-leaker keeps them: CLOSE_WAIT",
                                                     kLeaks)});
    m.all_close_wait = m.all_close_wait || all;
    tick.offer(states(obs, leaks), {}, std::move(ev));
    if (m.all_close_wait && env.rec.elapsed() >= t.age) return {};
    if (auto s = sleep_for(0.25); !s) return s;
  }
  return core::fail("the leaker's sockets never all reached CLOSE_WAIT");
}

// The dry run, then the destroy of each leak by 4-tuple and cookie (collect::destroy_verified,
// as `sockdoctor kill --yes`), recorded as timeline events.
core::Result<void> destroy_leaks(Env& env, const std::vector<Tuple>& leaks, Marks& m) {
  Observer obs;
  if (auto r = obs.refresh(); !r) return r;
  std::vector<core::TcpSocket> targets;
  for (const auto& l : leaks)
    if (const auto* s = obs.find(l); s != nullptr && s->state == core::TcpState::CloseWait)
      targets.push_back(*s);
  env.rec.add(states(obs, leaks), {},
              {{"dry_run", fmt::format("sockdoctor kill --state close-wait --comm lab-leaker "
                                       "(dry run): {} sockets would be destroyed",
                                       targets.size())}});
  if (auto r = obs.refresh(); !r) return r;
  m.dry_run_untouched = true;
  for (const auto& l : leaks)
    m.dry_run_untouched = m.dry_run_untouched && obs.state_of(l) == "close_wait";
  auto nl = collect::DiagSocket::open();
  if (!nl) return tl::unexpected(nl.error());
  std::vector<Event> ev;
  for (const auto& s : targets) {
    const auto r = collect::destroy_verified(*nl, collect::socket_id_of(s),
                                             core::state_bit(core::TcpState::CloseWait));
    m.results.emplace_back(collect::outcome_name(r.outcome));
    ev.push_back(
        {"destroy", fmt::format("--yes: {} -> {} (cookie {}): {}{}", core::to_string(s.local),
                                core::to_string(s.peer), s.cookie, m.results.back(),
                                r.err != 0 ? " (" + errno_word(r.err) + ")" : "")});
  }
  if (auto r = obs.refresh(); !r) return r;
  env.rec.add(held_states(obs, leaks), {}, std::move(ev));
  return {};
}

core::Result<void> probe_and_watch(
    Env& env, Child& leaker, const std::vector<Tuple>& leaks, const Timing& t, Marks& m) {
  if (auto w = leaker.channel().write_line("probe"); !w) return w;
  std::vector<Event> ev;
  for (int i = 0; i < kLeaks; ++i) {
    auto line = leaker.expect("observed ", 5);
    if (!line) return tl::unexpected(line.error());
    m.observed.push_back(line->substr(9));
    ev.push_back({"leaker_sees", "lab-leaker " + m.observed.back()});
  }
  Observer obs;
  Ticker tick(env.rec);
  const double end = env.rec.elapsed() + t.hold;
  bool first = true;
  while (env.rec.elapsed() < end) {
    if (auto r = obs.refresh(); !r) return r;
    m.tuples_gone = m.server_ends_gone = true;
    for (const auto& l : leaks) {
      m.tuples_gone = m.tuples_gone && obs.state_of(l) == "gone";
      m.server_ends_gone = m.server_ends_gone && obs.state_of(l.reversed()) == "gone";
    }
    tick.offer(held_states(obs, leaks), {}, first ? std::move(ev) : std::vector<Event>{});
    first = false;
    if (auto s = sleep_for(0.25); !s) return s;
  }
  return {};
}

void record_checks(
    Env& env, const Marks& m, const Diagnosed& before, const Diagnosed& after, pid_t leaker) {
  auto& rec = env.rec;
  rec.check("close_wait_leak", fmt::format("lab-leaker holds {} CLOSE_WAIT sockets", kLeaks),
            m.all_close_wait ? "seen" : "not seen", m.all_close_wait);
  const auto* f = find_finding(before.diagnosis, "close_wait_leak", leaker);
  rec.check("diagnosis_names_leaker", "sockdoctor names lab-leaker before the destroy",
            f != nullptr ? f->title : "no such finding", f != nullptr && f->count == kLeaks);
  rec.check("dry_run_touches_nothing", "the dry run leaves every socket in CLOSE_WAIT",
            m.dry_run_untouched ? "all still CLOSE_WAIT" : "something changed",
            m.dry_run_untouched);
  const bool all_destroyed =
      m.results.size() == kLeaks && std::all_of(m.results.begin(), m.results.end(),
                                                [](const auto& r) { return r == "destroyed"; });
  rec.check("destroyed", "SOCK_DESTROY (cookie-checked) destroys each one",
            fmt::format("{} of {} destroyed",
                        std::count(m.results.begin(), m.results.end(), std::string("destroyed")),
                        kLeaks),
            all_destroyed);
  rec.check("unhashed", "the 4-tuples leave the socket table, and the RST frees the server's ends",
            fmt::format("leaks {}, server ends {}", m.tuples_gone ? "gone" : "still listed",
                        m.server_ends_gone ? "gone" : "still listed"),
            m.tuples_gone && m.server_ends_gone);
  bool eof = !m.observed.empty(), aborted = eof, epipe = eof, open = eof;
  for (const auto& o : m.observed) {
    eof = eof && field(o, "recv") == "EOF";
    aborted = aborted && field(o, "send") == "ECONNABORTED";
    epipe = epipe && field(o, "send2") == "EPIPE";
    open = open && field(o, "open") == "yes";
  }
  rec.check("leaker_reads_eof", "the leaker's next recv() returns 0 (the FIN had arrived)",
            eof ? "EOF on every socket" : "see the timeline", eof);
  rec.check("leaker_write_aborted",
            "its next send() fails with ECONNABORTED, the one after with EPIPE",
            aborted && epipe ? "ECONNABORTED, then EPIPE" : "see the timeline", aborted && epipe);
  rec.check("fd_stays_open", "its file descriptors stay open: destroying is not close()",
            open ? "all open" : "some closed", open);
  const auto* left = find_finding(after.diagnosis, "close_wait_leak", leaker);
  rec.check("finding_gone", "sockdoctor no longer reports a CLOSE_WAIT leak for lab-leaker",
            left != nullptr ? left->title : "no finding", left == nullptr);
}

void record_lesson(Env& env, const core::KernelSettings& k) {
  auto& rec = env.rec;
  const auto effects = analyze::destroy_effects(k);
  const auto* cw = analyze::effect_for(effects, core::TcpState::CloseWait, false);
  rec.lesson(
      "Destroying a CLOSE_WAIT socket aborts the connection: the kernel sends a RST (the "
      "server's FIN_WAIT2 end vanished), moves the socket to CLOSE and frees its 4-tuple. It "
      "does not close the application's file descriptor, so the leak of descriptors goes on: "
      "the process still holds every fd, and only close() (or its exit) gives them back.");
  if (cw != nullptr)
    rec.lesson("On this kernel, CLOSE_WAIT: " + cw->result + ". Owner: " + cw->owner_sees +
               ". Peer: " + cw->peer_sees + ".");
  rec.lesson("sockdoctor kill matched each socket again by its cookie right before destroying "
             "it: a new connection that reuses the same 4-tuple has another cookie, and the "
             "kernel refuses to touch it. `sockdoctor explain kill` lists every state.");
  rec.lesson(analyze::close_wait_fix_sentence());
}

} // namespace

core::Result<void> run_kill(Env& env) {
  auto& rec = env.rec;
  auto& r = rec.result();
  const Timing t = env.opt.fast ? kFast : kNormal;
  r.title = "a CLOSE_WAIT leak destroyed with SOCK_DESTROY, and what the leaker sees next";
  auto k = namespace_settings();
  if (!k) return tl::unexpected(k.error());
  if (k->config_inet_diag_destroy && !*k->config_inet_diag_destroy)
    return core::fail("this kernel was built without CONFIG_INET_DIAG_DESTROY: nothing can "
                      "be destroyed (see sockdoctor explain kill)");

  auto server = Child::fork_run("server", "lab-server",
                                [](LineChannel& io) { return server_body(io, kServerPort); });
  if (!server) return tl::unexpected(server.error());
  if (auto up = server->expect("listening", 5); !up) return tl::unexpected(up.error());
  r.processes.push_back({"server", server->pid(), "lab-server"});
  rec.start_clock();
  auto leaker = Child::fork_run("client", "lab-leaker",
                                [](LineChannel& io) { return leaker_body(io, kServerPort); });
  if (!leaker) return tl::unexpected(leaker.error());
  r.processes.push_back({"client", leaker->pid(), "lab-leaker"});
  auto connected = leaker->expect("connected ", 5);
  if (!connected) return tl::unexpected(connected.error());
  std::vector<Tuple> leaks;
  std::istringstream ports(connected->substr(10));
  for (int p; ports >> p;)
    leaks.push_back({loopback(static_cast<std::uint16_t>(p)), loopback(kServerPort)});
  r.setup.push_back(fmt::format("lab-leaker (pid {}) opens {} connections and never reads nor "
                                "closes them; lab-server (pid {}) closes each at once",
                                leaker->pid(), kLeaks, server->pid()));
  for (std::size_t i = 0; i < leaks.size(); ++i) {
    r.ends.push_back({fmt::format("leak{}", i + 1), fmt::format("LEAK{}", i + 1),
                      core::to_string(leaks[i].local) + " (lab-leaker)"});
    r.ends.push_back({fmt::format("peer{}", i + 1), fmt::format("PEER{}", i + 1),
                      core::to_string(leaks[i].peer) + " (lab-server, closed)"});
  }
  rec.begin_timeline();

  Marks m;
  if (auto w = wait_close_wait(env, leaks, t, m); !w) return w;
  auto before = diagnose_namespace();
  if (!before) return tl::unexpected(before.error());
  rec.diagnosis("before: lab-leaker holds its CLOSE_WAIT sockets", before->diagnosis);
  if (auto d = destroy_leaks(env, leaks, m); !d) return d;
  if (auto p = probe_and_watch(env, *leaker, leaks, t, m); !p) return p;
  auto after = diagnose_namespace();
  if (!after) return tl::unexpected(after.error());
  rec.diagnosis("after the destroy", after->diagnosis);
  record_checks(env, m, *before, *after, leaker->pid());
  record_lesson(env, before->kernel);
  return {};
}

} // namespace sockdoctor::lab
