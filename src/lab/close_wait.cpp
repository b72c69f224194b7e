// lab close-wait: the article's experiment. An HTTP server with an idle keep-alive timeout (real
// nginx, or a built-in server that behaves the same) and a client that reads the response to EOF
// and never closes; a per-second timeline of both ends; sockdoctor naming the client.
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "analyze/knowledge.hpp"
#include "lab/lab.hpp"

namespace sockdoctor::lab {
namespace {

struct Timing {
  int keepalive_timeout; // nginx keepalive_timeout
  int fin_timeout;       // net.ipv4.tcp_fin_timeout in the namespace
  double hold;           // seconds to keep watching after the server's end is gone
};

constexpr Timing kNormal{10, 20, 5};
constexpr Timing kFast{3, 5, 2};

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string last_lines(const std::string& text, std::size_t n) {
  std::vector<std::string_view> lines;
  std::string_view v(text);
  while (!v.empty()) {
    const auto nl = v.find('\n');
    lines.push_back(v.substr(0, nl));
    if (nl == std::string_view::npos) break;
    v.remove_prefix(nl + 1);
  }
  std::string out;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
    out += (out.empty() ? "" : " | ") + std::string(lines[i]);
  return out;
}

// Waits until something listens on 127.0.0.1:port in the namespace, or the server exits; then
// the end of its logs says why.
core::Result<void>
wait_listening(Child& server, std::uint16_t port, const std::vector<std::string>& logs) {
  Observer obs;
  for (int i = 0; i < 100; ++i) {
    auto r = obs.refresh();
    if (!r) return r;
    for (const auto& s : obs.sockets())
      if (s.state == core::TcpState::Listen && s.local == loopback(port)) return {};
    if (!server.alive()) {
      std::string why;
      for (const auto& log : logs)
        if (auto tail = last_lines(read_file(log), 5); !tail.empty()) why += " " + tail;
      return core::fail("the server exited at start-up" + (why.empty() ? "" : ":" + why));
    }
    auto s = sleep_for(0.05);
    if (!s) return s;
  }
  return core::fail(fmt::format("nothing listens on 127.0.0.1:{} after 5 s", port));
}

std::string nginx_version(const std::string& nginx, const TempDir& dir) {
  const std::string log = dir.path() + "/version.log";
  auto c = Child::exec("nginx -v", {nginx, "-v"}, log);
  if (!c || !c->wait_exit(5)) return {};
  return parse_nginx_version(read_file(log));
}

core::Result<Child>
start_nginx(Env& env, const std::string& nginx, const TempDir& dir, const Timing& t) {
  auto& r = env.rec.result();
  NginxConfig cfg{dir.path(), kServerPort, t.keepalive_timeout};
  const std::string conf = dir.path() + "/nginx.conf";
  {
    std::ofstream f(conf);
    f << nginx_config_text(cfg);
    if (!f) return core::fail("cannot write " + conf);
  }
  const std::string version = nginx_version(nginx, dir);
  r.server_detail =
      fmt::format("{} ({}), keepalive_timeout {}, private config {}",
                  version.empty() ? "nginx" : version, nginx, t.keepalive_timeout, conf);
  const std::string err_log = dir.path() + "/error.log";
  const std::string out_log = dir.path() + "/nginx.out";
  auto server =
      Child::exec("server", {nginx, "-c", conf, "-p", dir.path() + "/", "-e", err_log}, out_log);
  if (!server) return tl::unexpected(server.error());
  auto up = wait_listening(*server, kServerPort, {err_log, out_log});
  if (!up) return tl::unexpected(core::with_context("nginx", up.error()));
  r.processes.push_back({"server", server->pid(), "nginx"});
  return server;
}

core::Result<Child> start_builtin(Env& env, const Timing& t) {
  auto& r = env.rec.result();
  const int ka = t.keepalive_timeout;
  auto server = Child::fork_run("server", "lab-httpd", [ka](LineChannel& io) {
    return builtin_http_server_body(io, kServerPort, ka);
  });
  if (!server) return tl::unexpected(server.error());
  auto up = server->expect("listening", 5);
  if (!up) return tl::unexpected(core::with_context("built-in server", up.error()));
  r.server_detail = fmt::format("built-in HTTP server (pid {}, lab-httpd): closes a keep-alive "
                                "connection after {} s idle, like nginx's keepalive_timeout",
                                server->pid(), ka);
  r.processes.push_back({"server", server->pid(), "lab-httpd"});
  return server;
}

struct Marks {
  double response = -1, eof = -1, close_wait = -1;
  Change server_gone;
  bool both_established = false, fin_wait2_seen = false;
};

// Client reports: "response STAMP ...", "eof STAMP", with the client's own clock readings.
void client_events(Recorder& rec, Child& client, Marks& m, std::vector<Event>& ev) {
  client.channel().pump();
  while (auto line = client.channel().take_line()) {
    const bool response = line->rfind("response ", 0) == 0, eof = line->rfind("eof ", 0) == 0;
    if (!response && !eof) continue;
    const std::string rest = line->substr(response ? 9 : 4);
    const auto stamp = parse_mono_stamp(rest);
    const double at = stamp ? rec.at(*stamp) : rec.elapsed();
    if (response && m.response < 0) {
      m.response = at;
      const auto sp = rest.find(' ');
      ev.push_back({"client_response", "client read the response, " +
                                           (sp == std::string::npos ? rest : rest.substr(sp + 1)) +
                                           ", and keeps the connection (keep-alive)"});
    } else if (eof && m.eof < 0) {
      m.eof = at;
      ev.push_back({"client_eof", "client's recv() returned 0 (EOF); it keeps the socket open"});
    }
  }
}

std::string server_close_text(const Marks& m, double now, const std::string& server_state) {
  const double at = m.eof >= 0 ? m.eof : now;
  std::string out = "the server closed the idle connection";
  if (m.response >= 0) out += fmt::format(" {:.1f} s after the response", at - m.response);
  out += ": client CLOSE_WAIT, server " + display_state(server_state);
  if (server_state == "fin_wait1")
    out += " (the client's kernel may delay its ACK of the FIN by up to 40-200 ms)";
  return out;
}

core::Result<Marks> watch(Env& env, Child& client, const Tuple& ct, const Timing& t) {
  auto& rec = env.rec;
  Observer obs;
  Ticker tick(rec);
  Marks m;
  const double deadline = t.keepalive_timeout + t.fin_timeout + t.hold + 15;
  while (rec.elapsed() < deadline) {
    const double now = rec.elapsed();
    auto r = obs.refresh();
    if (!r) return tl::unexpected(r.error());
    const std::string cs = obs.state_of(ct), ss = obs.state_of(ct.reversed());
    std::vector<Event> ev;
    client_events(rec, client, m, ev);
    if (cs == "established" && ss == "established") m.both_established = true;
    if (cs == "close_wait" && m.close_wait < 0) {
      m.close_wait = m.eof >= 0 ? m.eof : now;
      ev.insert(ev.begin(), Event{"server_closed", server_close_text(m, now, ss)});
    }
    if (m.eof >= 0 && m.close_wait > m.eof) m.close_wait = m.eof; // the report came late
    if (cs == "close_wait" && ss == "fin_wait2") m.fin_wait2_seen = true;
    if (m.close_wait >= 0 && !m.server_gone.seen()) {
      m.server_gone.sample(now, ss == "gone");
      if (m.server_gone.seen())
        ev.push_back(
            {"server_gone", fmt::format("the server's orphaned FIN_WAIT2 was freed {} "
                                        "after the close (tcp_fin_timeout {} s); the "
                                        "client's CLOSE_WAIT stays",
                                        m.server_gone.since(m.close_wait), t.fin_timeout)});
    }
    tick.offer({{"client", cs}, {"server", ss}}, {}, std::move(ev));
    if (m.server_gone.seen() && now >= m.server_gone.after + t.hold) break;
    if (auto s = sleep_for(0.25); !s) return tl::unexpected(s.error());
  }
  return m;
}

bool within(double got, double want, double below, double above) {
  return got >= want - below && got <= want + above;
}

void record_checks(Env& env,
                   const Marks& m,
                   const Timing& t,
                   const std::string& final_client,
                   const std::string& final_server,
                   const Diagnosed& d,
                   pid_t client_pid) {
  auto& rec = env.rec;
  rec.check("established_first", "both ends ESTABLISHED while the connection is kept alive",
            m.both_established ? "seen" : "never seen", m.both_established);
  const double idle = m.close_wait >= 0 && m.response >= 0 ? m.close_wait - m.response : -1;
  rec.check("close_wait_after_keepalive_timeout",
            fmt::format("the client enters CLOSE_WAIT when the server closes the idle connection "
                        "after keepalive_timeout ({} s)",
                        t.keepalive_timeout),
            idle >= 0 ? fmt::format("after {:.1f} s", idle) : "never",
            idle >= 0 && within(idle, t.keepalive_timeout, 0.5, 2));
  rec.check("server_fin_wait2", "meanwhile the server's end is an orphaned FIN_WAIT2",
            m.fin_wait2_seen ? "seen" : "not seen", m.fin_wait2_seen);
  rec.check("server_gone_after_fin_timeout",
            fmt::format("the server's orphan is freed after tcp_fin_timeout ({} s)", t.fin_timeout),
            "after " + m.server_gone.since(m.close_wait),
            m.server_gone.within(m.close_wait, t.fin_timeout, 0.5, 2));
  rec.check("client_close_wait_stays",
            "the client's CLOSE_WAIT stays: nothing in the kernel ends it",
            fmt::format("client {}, server {} at the end", display_state(final_client),
                        display_state(final_server)),
            final_client == "close_wait" && final_server == "gone");
  const auto* f = find_finding(d.diagnosis, "close_wait_leak", client_pid);
  rec.check(
      "diagnosis_names_client",
      fmt::format("sockdoctor reports pid {} (lab-client) holding 1 CLOSE_WAIT socket", client_pid),
      f != nullptr ? f->title : "no such finding", f != nullptr && f->count == 1);
}

void record_lesson(Env& env, const Marks& m, const Timing& t, const core::KernelSettings& k) {
  auto& rec = env.rec;
  const bool nginx = env.rec.result().server == "nginx";
  rec.lesson(fmt::format(
      "The client's socket entered CLOSE_WAIT when the server's FIN arrived, {} after the "
      "response: that is the server's keep-alive timeout ({} s), not anything the client's "
      "kernel decided. The kernel acknowledged the FIN by itself; the socket leaves CLOSE_WAIT "
      "when the application calls close() or shutdown(SHUT_WR), and otherwise only through a RST "
      "from the peer, a keepalive or retransmission timeout, or `ss -K`. {}",
      m.close_wait >= 0 && m.response >= 0 ? seconds_text(m.close_wait - m.response)
                                           : std::string("some time"),
      t.keepalive_timeout, analyze::close_wait_recv_q_sentence(0)));
  rec.lesson(analyze::fin_wait2_lifetime_sentence(k, true) +
             fmt::format(" The lab set tcp_fin_timeout to {} s; the default is 60 s. The client's "
                         "CLOSE_WAIT outlived it: the two ends are independent.",
                         t.fin_timeout));
  rec.lesson(
      analyze::close_wait_lifetime_sentence(k, false) +
          " The socket goes away when the client application closes it (most HTTP pools do so "
          "on their next checkout, when they see EOF). tcp_keepalive_time applies only if the "
          "client set SO_KEEPALIVE; even then the server's orphan was freed long before, so the "
          "first probe (7200 s by default) draws a RST and the socket goes to CLOSE with EPIPE "
          "while its fd stays open: see `sockdoctor lab keepalive`.",
      "This socket can only be released by the timeout in /proc/sys/net/ipv4/tcp_keepalive_time, "
      "about 2 hours.");
  rec.lesson(
      fmt::format(
          "Here CLOSE_WAIT began when {} closed the idle connection, {} s after the response. "
          "nginx's compiled-in default keepalive_timeout is 75 s and the stock nginx.conf sets "
          "65 s, so a CLOSE_WAIT after about 65 s means the 30 s setting was not in effect for "
          "that connection (another server{{}} or location{{}} block, an upstream{{}} block, or "
          "no reload); `nginx -T | grep keepalive_timeout` and a tcpdump showing who sends the "
          "FIN tell.",
          nginx ? "nginx" : "the server", t.keepalive_timeout),
      "nginx was set to keepalive_timeout 30 s, and the client's socket went to CLOSE_WAIT after "
      "about 65 s.");
  rec.lesson(analyze::close_wait_fix_sentence());
}

} // namespace

core::Result<void> run_close_wait(Env& env) {
  auto& rec = env.rec;
  auto& r = rec.result();
  const Timing t = env.opt.fast ? kFast : kNormal;
  r.title = "the article's experiment: a keep-alive server closes, the client never does";
  const std::string fin = std::to_string(t.fin_timeout);
  if (auto s = write_sysctl("net.ipv4.tcp_fin_timeout", fin); !s) return s;
  r.sysctls.push_back({"net.ipv4.tcp_fin_timeout", fin});

  std::optional<TempDir> dir;
  core::Result<Child> server = core::fail("no server");
  if (r.server == "nginx") {
    auto d = TempDir::create("nginx");
    if (!d) return tl::unexpected(d.error());
    dir.emplace(std::move(*d));
    const auto nginx = find_nginx(std::getenv("PATH"));
    if (!nginx) return core::fail("nginx is not installed");
    server = start_nginx(env, *nginx, *dir, t);
  } else {
    server = start_builtin(env, t);
  }
  if (!server) return tl::unexpected(server.error());

  rec.start_clock();
  auto client = Child::fork_run("client", "lab-client",
                                [](LineChannel& io) { return http_client_body(io, kServerPort); });
  if (!client) return tl::unexpected(client.error());
  r.processes.push_back({"client", client->pid(), "lab-client"});
  auto connected = client->expect("connected ", 5);
  if (!connected) return tl::unexpected(connected.error());
  const auto port = static_cast<std::uint16_t>(std::atoi(connected->c_str() + 10));
  const Tuple ct{loopback(port), loopback(kServerPort)};
  r.setup.push_back(fmt::format("client (pid {}, lab-client) sends the article's GET request, "
                                "reads the response by Content-Length, reads on to EOF, and never "
                                "closes the socket",
                                client->pid()));
  r.ends.push_back({"client", "CLIENT",
                    fmt::format("{} -> {}, pid {} (lab-client)", core::to_string(ct.local),
                                core::to_string(ct.peer), client->pid())});
  r.ends.push_back(
      {"server", "SERVER",
       fmt::format("{} -> {}, pid {} ({})", core::to_string(ct.peer), core::to_string(ct.local),
                   server->pid(), r.processes.front().comm)});
  rec.begin_timeline();

  auto marks = watch(env, *client, ct, t);
  if (!marks) return tl::unexpected(marks.error());
  Observer obs;
  if (auto o = obs.refresh(); !o) return o;
  auto d = diagnose_namespace();
  if (!d) return tl::unexpected(d.error());
  rec.diagnosis("the client keeps its CLOSE_WAIT socket", d->diagnosis);
  record_checks(env, *marks, t, obs.state_of(ct), obs.state_of(ct.reversed()), *d, client->pid());
  record_lesson(env, *marks, t, d->kernel);
  return {};
}

} // namespace sockdoctor::lab
