// lab time-wait: a short-connection storm toward one destination with a narrowed
// ip_local_port_range: TIME_WAIT growth, sockdoctor's prediction, EADDRNOTAVAIL; then the same
// storm with tcp_tw_reuse=1 (kernel-facts sections 3, 4, 5, 9).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "analyze/kernel_model.hpp"
#include "analyze/knowledge.hpp"
#include "lab/lab.hpp"

namespace sockdoctor::lab {
namespace {

constexpr int kPortLow = 40000, kPortHigh = 40099; // 100 ports; different parity, as advised
constexpr int kPorts = kPortHigh - kPortLow + 1;
constexpr std::uint16_t kOtherPort = 81; // a second destination on the same server address
constexpr int kBatch = 8;
constexpr double kRate = 40; // connections/s: below the 100/s that reuse after 1 s allows
constexpr int kReuseStorm = 3 * kPorts;

struct Marks {
  int phase1_made = 0;
  double first_close = -1;
  double warning = -1, prediction = -1, failure = -1;
  int made_at_prediction = 0;
  int tw_at_failure = 0;
  bool other_destination_ok = false;
  double first_expiry = -1;
  bool works_again = false;
  int phase2_made = 0;
  int phase2_failed = 0;
  std::uint64_t recycled = 0;
  bool critical_with_reuse = false;
};

class Fd {
public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_;
};

bool wait_in(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

// One short connection in which the client closes first, so the TIME_WAIT lands on the client's
// ephemeral port. Returns false when connect() fails with EADDRNOTAVAIL.
core::Result<bool> one_connection(int listener, std::uint16_t port) {
  auto c = connect_loopback(port, nullptr);
  if (!c) {
    if (c.error().sys_errno == EADDRNOTAVAIL) return false;
    return tl::unexpected(c.error());
  }
  Fd client(*c);
  if (!wait_in(listener, 1000)) return core::fail("accept: nothing arrived within 1 s");
  Fd server(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (server.get() < 0) return core::fail(fmt::format("accept: {}", std::strerror(errno)), errno);
  client.reset(); // FIN from the client: it is the active closer
  char b;
  if (!wait_in(server.get(), 1000) || ::recv(server.get(), &b, 1, 0) != 0)
    return core::fail("the server did not read EOF within 1 s");
  server.reset(); // the server's FIN moves the client's orphan to TIME_WAIT
  return true;
}

int count_time_wait(const Observer& obs, std::uint16_t dport) {
  int n = 0;
  for (const auto& s : obs.sockets())
    if (s.peer.port == dport && s.local.port >= kPortLow && s.local.port <= kPortHigh &&
        (s.state == core::TcpState::TimeWait ||
         (s.state == core::TcpState::FinWait2 && s.inode == 0)))
      ++n;
  return n;
}

std::uint64_t tw_recycled() {
  auto k = namespace_settings();
  if (!k) return 0;
  auto it = k->tcp_ext.find("TWRecycled");
  return it == k->tcp_ext.end() ? 0 : it->second;
}

struct Storm {
  Env& env;
  int listener;
  Marks& m;
  Ticker tick;
  Observer obs;
  int made = 0;

  std::vector<std::pair<std::string, std::int64_t>> counts(int tw) const {
    return {{"connects", made}, {"time_wait", tw}, {"ports_left", kPorts - tw}};
  }

  // sockdoctor on the namespace after each batch: the first warning and the first critical
  // port-budget finding become events; the critical one is the prediction, shown in full.
  core::Result<void> judge(std::vector<Event>& ev, bool reuse_phase) {
    auto d = diagnose_namespace(false);
    if (!d) return tl::unexpected(d.error());
    const auto* f = find_finding(d->diagnosis, "ephemeral_port_exhaustion");
    if (f == nullptr) return {};
    const double now = env.rec.elapsed();
    if (reuse_phase) {
      if (f->severity == analyze::Severity::Critical) m.critical_with_reuse = true;
      return {};
    }
    if (m.warning < 0) {
      m.warning = now;
      ev.push_back({"warning", "sockdoctor warns: " + f->title});
    }
    if (f->severity == analyze::Severity::Critical && m.prediction < 0) {
      m.prediction = now;
      m.made_at_prediction = made;
      ev.push_back({"prediction", "sockdoctor predicts it: " + f->title});
      env.rec.diagnosis(fmt::format("after {} connections, before any connect() failed", made),
                        d->diagnosis);
    }
    return {};
  }

  // Up to `limit` connections at kRate per second; stops at the first EADDRNOTAVAIL.
  core::Result<bool> run(int limit, bool reuse_phase) {
    const double interval = kBatch / kRate;
    while (made < limit) {
      const double batch_start = env.rec.elapsed();
      std::vector<Event> ev;
      bool refused = false;
      for (int i = 0; i < kBatch && made < limit; ++i) {
        auto ok = one_connection(listener, kServerPort);
        if (!ok) return tl::unexpected(ok.error());
        if (!*ok) {
          refused = true;
          break;
        }
        if (m.first_close < 0) m.first_close = env.rec.elapsed();
        ++made;
      }
      if (auto r = obs.refresh(); !r) return tl::unexpected(r.error());
      const int tw = count_time_wait(obs, kServerPort);
      if (refused) {
        ev.push_back({"eaddrnotavail",
                      fmt::format("connect() #{} failed: EADDRNOTAVAIL (Cannot assign requested "
                                  "address); {} TIME_WAIT entries hold all {} ports toward "
                                  "127.0.0.1:{}",
                                  made + 1, tw, kPorts, kServerPort)});
        if (!reuse_phase) {
          m.failure = env.rec.elapsed();
          m.tw_at_failure = tw;
        }
      } else if (auto j = judge(ev, reuse_phase); !j) {
        return tl::unexpected(j.error());
      }
      tick.offer({}, counts(tw), std::move(ev));
      if (refused) return false;
      const double left = interval - (env.rec.elapsed() - batch_start);
      if (left > 0)
        if (auto s = sleep_for(left); !s) return tl::unexpected(s.error());
    }
    return true;
  }
};

// TIME_WAIT blocks a 4-tuple, not a port: another destination port still connects.
core::Result<void> try_other_destination(Env& env, int other, Marks& m) {
  auto ok = one_connection(other, kOtherPort);
  if (!ok) return tl::unexpected(ok.error());
  m.other_destination_ok = *ok;
  const std::string text =
      *ok ? fmt::format("connect() to 127.0.0.1:{} still works: TIME_WAIT blocks a 4-tuple, not a "
                        "port",
                        kOtherPort)
          : fmt::format("connect() to 127.0.0.1:{} failed too", kOtherPort);
  env.rec.add({}, {}, {Event{"other_destination", text}});
  return {};
}

// Without --fast: wait for the first TIME_WAIT entry to expire and connect again.
core::Result<void> wait_expiry(Env& env, int listener, Marks& m) {
  auto& rec = env.rec;
  rec.note("Waiting for the first TIME_WAIT entries to expire (Linux: 60 s, whatever 2 x MSL "
           "would say)...");
  Observer obs;
  Ticker tick(rec, 5);
  const double deadline = m.first_close + 75;
  while (rec.elapsed() < deadline) {
    if (auto r = obs.refresh(); !r) return r;
    const int tw = count_time_wait(obs, kServerPort);
    std::vector<Event> ev;
    if (tw < m.tw_at_failure && m.first_expiry < 0) {
      m.first_expiry = rec.elapsed();
      auto ok = one_connection(listener, kServerPort);
      if (!ok) return tl::unexpected(ok.error());
      m.works_again = *ok;
      ev.push_back(
          {"time_wait_expired",
           fmt::format("the first TIME_WAIT entries expired {:.1f} s after the first "
                       "connection closed; connect() {}",
                       m.first_expiry - m.first_close, *ok ? "works again" : "still fails")});
    }
    tick.offer({}, {{"connects", 0}, {"time_wait", tw}, {"ports_left", kPorts - tw}},
               std::move(ev));
    if (m.first_expiry >= 0) return {};
    if (auto s = sleep_for(0.25); !s) return s;
  }
  return {};
}

void record_checks(Env& env, const Marks& m, const core::KernelSettings& k) {
  auto& rec = env.rec;
  rec.check("prediction_before_failure",
            "sockdoctor's port-budget finding turns critical before connect() fails",
            m.prediction >= 0 ? fmt::format("critical at +{:.1f} s after {} connections; "
                                            "EADDRNOTAVAIL at +{:.1f} s",
                                            m.prediction, m.made_at_prediction, m.failure)
                              : "no critical finding",
            m.prediction >= 0 && m.failure >= 0 && m.prediction < m.failure);
  rec.check("eaddrnotavail_at_budget",
            fmt::format("connect() fails with EADDRNOTAVAIL once every one of the {} ports holds "
                        "a TIME_WAIT entry toward the destination",
                        kPorts),
            m.failure >= 0 ? fmt::format("after {} connections, {} TIME_WAIT entries",
                                         m.phase1_made, m.tw_at_failure)
                           : "never failed",
            m.failure >= 0 && m.phase1_made == kPorts && m.tw_at_failure == kPorts);
  rec.check("other_destination",
            "TIME_WAIT blocks a 4-tuple, not a port: another destination port still connects",
            m.other_destination_ok ? "it did" : "it did not", m.other_destination_ok);
  if (!env.opt.fast) {
    const double life = m.first_expiry >= 0 ? m.first_expiry - m.first_close : -1;
    rec.check("time_wait_60s",
              fmt::format("a TIME_WAIT entry lasts 60 s (TCP_TIMEWAIT_LEN) plus timer slack of "
                          "{}, not 2 x MSL (1-4 min)",
                          analyze::timer_slack_clause(k, analyze::kTimeWaitSeconds)),
              life >= 0 ? fmt::format("the first expired after {:.1f} s; connect() {}", life,
                                      m.works_again ? "worked again" : "still failed")
                        : "none expired within 75 s",
              life >= 59.5 && life <= 65 && m.works_again);
  }
  rec.check("reuse_completes",
            fmt::format("with tcp_tw_reuse=1 (timestamps on) the storm of {} connections completes",
                        kReuseStorm),
            fmt::format("{} made, {} refused", m.phase2_made, m.phase2_failed),
            m.phase2_made == kReuseStorm && m.phase2_failed == 0);
  rec.check("tw_recycled", "connect() reused TIME_WAIT 4-tuples (TcpExtTWRecycled grows)",
            fmt::format("TcpExtTWRecycled +{}", m.recycled), m.recycled > 0);
  rec.check("no_prediction_with_reuse",
            "with tcp_tw_reuse=1 sockdoctor counts only entries younger than the reuse delay: no "
            "critical finding",
            m.critical_with_reuse ? "critical finding seen" : "none", !m.critical_with_reuse);
}

void lesson(Env& env, const core::KernelSettings& k) {
  auto& rec = env.rec;
  rec.lesson(analyze::time_wait_lifetime_sentence(k) +
                 " Linux does not use MSL for it and has no sysctl for it (tcp_fin_timeout does "
                 "not change it); only Alibaba Cloud Linux adds net.ipv4.tcp_tw_timeout.",
             "TIME_WAIT lasts 2 x MSL, 1 to 4 minutes.", kTheGuide);
  rec.lesson(fmt::format("Budget with the range this lab set ({}-{}): ", kPortLow, kPortHigh) +
             analyze::port_budget_sentence(k) +
             " The default range 32768-60999 gives 28232 ports, about 470/s. connect() fails with "
             "EADDRNOTAVAIL when every port holds a TIME_WAIT toward that destination; other "
             "destinations are unaffected. A server that closes first keeps the TIME_WAIT itself "
             "and uses no ephemeral port.");
  rec.lesson("tcp_tw_reuse: 0 off, 1 on, 2 (the default since 4.18) loopback only (peer or local "
             "address loopback, or a socket bound to lo), which is why "
             "this lab set 0 first: toward 127.0.0.1 the default already reuses. It applies to "
             "connect() only, needs timestamps on both ends, and reuses an entry after "
             "tcp_tw_reuse_delay (6.14+, default 1000 ms), or 0-1 s on 4.19-6.13.");
  rec.lesson(analyze::tw_recycle_sentence(k) +
                 " It dropped connections from clients behind NAT and, after per-connection "
                 "timestamp offsets (4.10), broke connections for everyone.",
             "Enable tcp_tw_recycle for fast recycling of TIME_WAIT sockets.", kTheGuide);
}

core::Result<void> setup(Env& env) {
  auto& r = env.rec.result();
  const std::vector<std::pair<std::string, std::string>> sysctls = {
      {"net.ipv4.ip_local_port_range", fmt::format("{} {}", kPortLow, kPortHigh)},
      {"net.ipv4.tcp_tw_reuse", "0"},
      {"net.ipv4.tcp_rfc1337", "1"}, // a stray RST must not end a TIME_WAIT we count
  };
  for (const auto& [name, value] : sysctls) {
    if (auto s = write_sysctl(name, value); !s) return s;
    r.sysctls.push_back({name, value});
  }
  return {};
}

} // namespace

core::Result<void> run_time_wait(Env& env) {
  auto& rec = env.rec;
  auto& r = rec.result();
  r.title = "a short-connection storm toward one destination exhausts its ephemeral ports";
  if (auto s = setup(env); !s) return s;
  auto l80 = listen_loopback(kServerPort, 256);
  if (!l80) return tl::unexpected(l80.error());
  Fd listener(*l80);
  auto l81 = listen_loopback(kOtherPort, 16);
  if (!l81) return tl::unexpected(l81.error());
  Fd other(*l81);
  r.processes.push_back({"client+server", ::getpid(), "sockdoctor"});
  r.setup.push_back(fmt::format(
      "sockdoctor itself (pid {}) is client and server: each connection to 127.0.0.1:{} is "
      "closed by the client first, so its TIME_WAIT holds the client's ephemeral port; {:.0f} "
      "connections/s in batches of {}, sockdoctor's diagnosis after every batch.",
      ::getpid(), kServerPort, kRate, kBatch));
  r.count_keys = {"connects", "time_wait", "ports_left"};
  rec.start_clock();
  rec.begin_timeline();

  Marks m;
  Storm storm{env, listener.get(), m, Ticker(rec), {}};
  auto first = storm.run(2 * kPorts, false);
  if (!first) return tl::unexpected(first.error());
  m.phase1_made = storm.made;
  if (auto o = try_other_destination(env, other.get(), m); !o) return o;
  if (!env.opt.fast)
    if (auto w = wait_expiry(env, listener.get(), m); !w) return w;

  if (auto s = write_sysctl("net.ipv4.tcp_tw_reuse", "1"); !s) return s;
  r.sysctls.push_back({"net.ipv4.tcp_tw_reuse (second storm)", "1"});
  const std::uint64_t recycled_before = tw_recycled();
  rec.add({}, {},
          {{"tw_reuse", fmt::format("net.ipv4.tcp_tw_reuse=1; the same storm again, {} "
                                    "connections",
                                    kReuseStorm)}});
  Storm again{env, listener.get(), m, Ticker(rec), {}};
  auto second = again.run(kReuseStorm, true);
  if (!second) return tl::unexpected(second.error());
  m.phase2_made = again.made;
  m.phase2_failed = *second ? 0 : 1;
  m.recycled = tw_recycled() - recycled_before;
  rec.add({}, {},
          {{"storm_done", fmt::format("{} connections made, {} refused; TcpExtTWRecycled +{}",
                                      m.phase2_made, m.phase2_failed, m.recycled)}});
  auto d = diagnose_namespace(false);
  if (!d) return tl::unexpected(d.error());
  record_checks(env, m, d->kernel);
  lesson(env, d->kernel);
  return {};
}

} // namespace sockdoctor::lab
