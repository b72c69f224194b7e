// lab: the scenarios, and one run: recreates a stuck-socket situation in a private network
// namespace on loopback, shows sockdoctor diagnosing it live, and checks the kernel behaves as
// documented.
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <ostream>

#include "lab/lab.hpp"
#include "render/escape.hpp"

namespace sockdoctor::lab {

const std::vector<ScenarioInfo>& scenarios() {
  static const std::vector<ScenarioInfo> list = {
      {"close-wait",
       "the article's experiment: the server closes an idle connection, the client does not",
       "An HTTP server with an idle keep-alive timeout (real nginx when installed, else a built-in "
       "server that behaves the same; --server chooses) and a client that sends one request, "
       "reads the response to EOF and keeps its socket. A per-second timeline shows both ends: "
       "ESTABLISHED, then the server's FIN_WAIT2 and the client's CLOSE_WAIT, then the server's "
       "end freed after tcp_fin_timeout while the client's CLOSE_WAIT stays. sockdoctor names the "
       "client's PID.",
       "about 37 s (--fast: about 10 s)", run_close_wait},
      {"keepalive", "what SO_KEEPALIVE does and does not do to CLOSE_WAIT, in seconds",
       "Three CLOSE_WAIT sockets held by one client: without SO_KEEPALIVE (it stays); with "
       "SO_KEEPALIVE and the server's socket gone (the first probe draws a RST, the socket goes to "
       "CLOSE, its fd stays open); with SO_KEEPALIVE and the server's socket still open after "
       "shutdown(SHUT_WR) (probes are answered, it stays). Per-socket TCP_KEEPIDLE/KEEPINTVL/"
       "KEEPCNT turn the 2-hour default into seconds.",
       "about 22 s (--fast: about 9 s)", run_keepalive},
      {"time-wait", "a short-connection storm exhausts the ports toward one destination",
       "One client opens and closes connections to one server port with ip_local_port_range "
       "narrowed to 100 ports and tcp_tw_reuse=0: TIME_WAIT grows, sockdoctor predicts the "
       "exhaustion (critical port-budget finding), then connect() fails with EADDRNOTAVAIL. "
       "Without --fast it then waits for the first TIME_WAIT to expire (60 s on Linux, not "
       "2 x MSL). Then the same storm with tcp_tw_reuse=1 completes.",
       "about 70 s (--fast: about 10 s)", run_time_wait},
      {"fin-wait-2", "an orphaned FIN_WAIT2 ends, a half-closed one held by a process never does",
       "A client closes one connection (orphaned FIN_WAIT2: freed after tcp_fin_timeout) and "
       "half-closes another with shutdown(SHUT_WR) while keeping it (FIN_WAIT2 without a timer). "
       "The server never closes either (CLOSE_WAIT). sockdoctor tells the two apart and names "
       "both processes.",
       "about 22 s (--fast: about 7 s)", run_fin_wait2},
      {"kill", "a CLOSE_WAIT leak destroyed (SOCK_DESTROY), and what the leaker sees next",
       "A client (lab-leaker) keeps three connections its server closed: CLOSE_WAIT, named by "
       "sockdoctor. The lab takes the dry run, then destroys each socket by 4-tuple and cookie "
       "as `sockdoctor kill --yes` does: a RST goes to the server, the 4-tuples leave the table. "
       "Then the leaker tries its sockets: recv() returns 0, the first send() fails with "
       "ECONNABORTED and the next with EPIPE, and every fd is still open.",
       "about 8 s (--fast: about 5 s)", run_kill},
  };
  return list;
}

namespace {

void print_list(std::ostream& out) {
  out << "Scenarios (run as root: sockdoctor lab SCENARIO [--fast] [--json]):\n";
  for (const auto& s : scenarios()) {
    out << fmt::format("\n  {:<11} {}\n", s.name, s.summary);
    out << std::string(14, ' ') << wrap_text(s.description, 100, 14, 14) << "\n";
    out << std::string(14, ' ') << s.duration << "\n";
  }
  out << "\nEach runs in its own network namespace on 127.0.0.1, kills every process it started "
         "and leaves nothing behind, even on Ctrl-C. It prints a timeline, sockdoctor's "
         "diagnosis, what the kernel did against what research says, and a short lesson.\n";
}

const ScenarioInfo* lookup(std::string_view name) {
  for (const auto& s : scenarios())
    if (s.name == name) return &s;
  return nullptr;
}

// close-wait's server: nginx when asked or (auto) when installed.
core::Result<std::string> choose_server(const Options& o) {
  if (o.scenario != "close-wait") return std::string();
  const bool have = find_nginx(std::getenv("PATH")).has_value();
  if (o.server == "builtin") return std::string("builtin");
  if (o.server == "nginx" && !have)
    return core::fail("--server nginx: nginx is not installed (not on PATH, no /usr/sbin/nginx)");
  return std::string(have ? "nginx" : "builtin");
}

} // namespace

std::vector<std::string> scenario_names() {
  std::vector<std::string> names;
  for (const auto& s : scenarios())
    names.emplace_back(s.name);
  return names;
}

Outcome run(const Options& o) {
  using Status = Outcome::Status;
  if (o.list) {
    print_list(*o.out);
    return {Status::Passed};
  }
  const ScenarioInfo* info = lookup(o.scenario);
  if (info == nullptr) {
    print_list(*o.err);
    *o.err << "\nsockdoctor lab: name a scenario\n";
    return {Status::Usage};
  }
  if (::geteuid() != 0) {
    *o.err << "sockdoctor lab: needs root: it creates a network namespace and sets TCP sysctls "
              "inside it (nothing outside it is touched)\n";
    return {Status::NotPermitted};
  }
  auto server = choose_server(o);
  if (!server) {
    render::write_notice(*o.err, "sockdoctor lab " + o.scenario + ": ", server.error().message);
    return {Status::NotPermitted};
  }
  SignalGuard signals;
  if (auto ns = enter_private_netns(); !ns) {
    render::write_notice(
        *o.err, "sockdoctor lab: cannot create a private network namespace: ", ns.error().message);
    return {ns.error().sys_errno == EPERM ? Status::NotPermitted : Status::CouldNotRun};
  }

  Result result;
  result.scenario = std::string(info->name);
  result.fast = o.fast;
  result.server = *server;
  if (auto k = namespace_settings()) result.kernel_release = k->kernel_release;
  struct stat ns {};
  if (::stat("/proc/self/ns/net", &ns) == 0) result.netns_inode = ns.st_ino;
  Recorder rec(result, o.json ? nullptr : o.out, o.color);
  Env env{o, rec};
  const auto t0 = std::chrono::steady_clock::now();
  // Every process and temp dir of the scenario is gone when run() returns (RAII), error or not.
  core::Result<void> ran;
  try {
    ran = info->run(env);
  } catch (const std::exception& e) {
    // RAII has already killed the scenario's processes while unwinding; report, do not abort.
    ran = core::fail(std::string("internal error: ") + e.what());
  }
  result.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!ran && is_interrupted(ran.error())) {
    *o.err << fmt::format("sockdoctor lab {}: interrupted; its processes were killed and its "
                          "namespace released\n",
                          o.scenario);
    return {Status::Interrupted, stop_signal()};
  }
  if (!ran) result.error = ran.error().message;
  rec.finish(*o.out);
  if (!ran) {
    if (o.json) render::write_notice(*o.err, "sockdoctor lab " + o.scenario + ": ", result.error);
    return {Status::CouldNotRun};
  }
  return {result.passed() ? Status::Passed : Status::ChecksFailed};
}

} // namespace sockdoctor::lab
