// lab fin-wait-2: an orphaned FIN_WAIT2 (freed after tcp_fin_timeout) next to a half-closed one
// that a process holds (no timer at all), both facing a peer that never closes
// (kernel-facts section 7).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "analyze/knowledge.hpp"
#include "lab/lab.hpp"

namespace sockdoctor::lab {
namespace {

struct Timing {
  double close_at; // when the client closes one connection and half-closes the other
  int fin_timeout; // net.ipv4.tcp_fin_timeout
  double diagnose; // seconds after the close: the first diagnosis, while the orphan exists
  double hold;     // watching after the orphan is gone
};

constexpr Timing kNormal{2, 15, 3, 5};
constexpr Timing kFast{1, 4, 2, 2};

// Accepts two connections and never reads nor closes them: the peer that never closes.
int peer_body(LineChannel& io, std::uint16_t port) {
  auto lfd = listen_loopback(port, 8);
  if (!lfd) {
    (void)io.write_line("error " + lfd.error().message);
    return 1;
  }
  (void)io.write_line("listening");
  std::array<int, 2> fds{};
  for (auto& fd : fds) {
    pollfd p[2] = {{*lfd, POLLIN, 0}, {io.fd(), POLLIN, 0}};
    while ((p[0].revents & POLLIN) == 0) {
      ::poll(p, 2, 1000);
      if ((p[1].revents & (POLLIN | POLLHUP)) != 0 && !io.pump()) return 0;
    }
    fd = ::accept4(*lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      (void)io.write_line(fmt::format("error accept: {}", std::strerror(errno)));
      return 1;
    }
  }
  (void)io.write_line("accepted");
  while (io.pump()) {
    pollfd p{io.fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
  }
  return 0;
}

// Connects twice; on "close": close() the first (orphan), shutdown(SHUT_WR) the second and keep it.
int closer_body(LineChannel& io, std::uint16_t port) {
  std::array<int, 2> fds{};
  if (!connect_and_report(io, port, fds)) return 1;
  for (;;) {
    auto cmd = io.read_line(3600);
    if (!cmd || !*cmd) return 0;
    if (**cmd != "close") continue;
    ::close(fds[0]);
    ::shutdown(fds[1], SHUT_WR);
    (void)io.write_line("closed " + mono_stamp());
  }
}

struct Marks {
  double closed = -1;
  bool orphan_fw2 = false, held_fw2 = false;
  Change orphan_gone;
};

core::Result<Marks>
watch(Env& env, Child& closer, const Tuple& orphan, const Tuple& held, const Timing& t) {
  auto& rec = env.rec;
  Observer obs;
  Ticker tick(rec);
  Marks m;
  PendingDiagnosis during;
  double end = t.close_at + t.fin_timeout + t.hold;
  while (rec.elapsed() < end + 10) {
    std::vector<Event> ev;
    if (m.closed < 0 && rec.elapsed() >= t.close_at) {
      if (auto w = closer.channel().write_line("close"); !w) return tl::unexpected(w.error());
      auto line = closer.expect("closed ", 5);
      if (!line) return tl::unexpected(line.error());
      const auto stamp = parse_mono_stamp(line->substr(7));
      m.closed = stamp ? rec.at(*stamp) : rec.elapsed();
      ev.push_back({"client_closed", "the client close()s ORPHAN and shutdown(SHUT_WR)s "
                                     "HALF-CLOSED; the peer acknowledges both FINs and closes "
                                     "neither"});
    }
    if (auto r = obs.refresh(); !r) return tl::unexpected(r.error());
    const double now = rec.elapsed();
    const std::string o = obs.state_of(orphan), op = obs.state_of(orphan.reversed());
    const std::string h = obs.state_of(held), hp = obs.state_of(held.reversed());
    if (o == "fin_wait2") m.orphan_fw2 = true;
    if (h == "fin_wait2") m.held_fw2 = true;
    if (m.orphan_fw2) {
      const bool was = m.orphan_gone.seen();
      m.orphan_gone.sample(now, o == "gone");
      if (!was && m.orphan_gone.seen()) {
        end = std::min(end, now + t.hold);
        ev.push_back(
            {"orphan_gone", fmt::format("ORPHAN freed {} after close() (tcp_fin_timeout {} s); "
                                        "HALF-CLOSED stays in FIN_WAIT2 and its peer in CLOSE_WAIT",
                                        m.orphan_gone.since(m.closed), t.fin_timeout)});
      }
    }
    tick.offer({{"orphan", o}, {"orphan_peer", op}, {"half_closed", h}, {"half_closed_peer", hp}},
               {}, std::move(ev));
    if (m.closed >= 0 && !during.started() && now >= m.closed + t.diagnose)
      during.start("both FIN_WAIT2 sockets exist", now);
    auto ready = during.poll(rec);
    if (!ready) return tl::unexpected(ready.error());
    if (m.orphan_gone.seen() && *ready && now >= end) break;
    if (auto s = sleep_for(0.25); !s) return tl::unexpected(s.error());
  }
  return m;
}

void record(Env& env,
            const Marks& m,
            const Timing& t,
            const Observer& obs,
            const Tuple& orphan,
            const Tuple& held,
            pid_t closer,
            pid_t peer,
            const Diagnosed& d) {
  auto& rec = env.rec;
  rec.check(
      "orphan_gone_after_fin_timeout",
      fmt::format("the orphaned FIN_WAIT2 is freed after tcp_fin_timeout ({} s)", t.fin_timeout),
      "after " + m.orphan_gone.since(m.closed),
      m.orphan_gone.within(m.closed, t.fin_timeout, 0.5, 2));
  const std::string h = obs.state_of(held);
  rec.check("half_closed_stays",
            "the half-closed FIN_WAIT2 held by the process has no timer and stays",
            fmt::format("{} at the end", display_state(h)), m.held_fw2 && h == "fin_wait2");
  const std::string op = obs.state_of(orphan.reversed()), hp = obs.state_of(held.reversed());
  rec.check("peer_close_wait", "the peer never closes: both of its ends stay in CLOSE_WAIT",
            fmt::format("{} and {}", display_state(op), display_state(hp)),
            op == "close_wait" && hp == "close_wait");
  const analyze::Diagnosis* during =
      rec.result().diagnoses.empty() ? nullptr : &rec.result().diagnoses.front().diagnosis;
  const auto* orphan_f = during ? find_finding(*during, "fin_wait2_orphaned") : nullptr;
  const auto* held_during =
      during ? find_finding(*during, "fin_wait2_half_closed", closer) : nullptr;
  rec.check("diagnosis_during",
            "while both exist, sockdoctor reports 1 orphaned FIN_WAIT2 (bounded) and 1 "
            "half-closed one held by the client (unbounded)",
            fmt::format("{}; {}", orphan_f ? orphan_f->title : "no orphan finding",
                        held_during ? held_during->title : "no half-closed finding"),
            orphan_f && orphan_f->count == 1 && held_during && held_during->count == 1);
  const auto* held_f = find_finding(d.diagnosis, "fin_wait2_half_closed", closer);
  const auto* leak = find_finding(d.diagnosis, "close_wait_leak", peer);
  rec.check("diagnosis_after",
            fmt::format("afterwards: pid {} (lab-closer) holds 1 half-closed FIN_WAIT2, pid {} "
                        "(lab-peer) 2 CLOSE_WAIT, and no orphan is left",
                        closer, peer),
            fmt::format("{}; {}", held_f ? held_f->title : "no half-closed finding",
                        leak ? leak->title : "no CLOSE_WAIT finding"),
            held_f && held_f->count == 1 && leak && leak->count == 2 &&
                !find_finding(d.diagnosis, "fin_wait2_orphaned"));
}

void lesson(Env& env, const Timing& t, const core::KernelSettings& k) {
  auto& rec = env.rec;
  rec.lesson(analyze::fin_wait2_lifetime_sentence(k, true) +
                 fmt::format(" The lab set {} s; the default is 60 s. It applies only to "
                             "orphaned sockets, and it has no effect on TIME_WAIT.",
                             t.fin_timeout),
             "tcp_fin_timeout (for example 30) sets how long a socket waits in FIN_WAIT_2.",
             kTheGuide);
  rec.lesson("HALF-CLOSED: " + analyze::fin_wait2_lifetime_sentence(k, false));
  rec.lesson(
      "Both FIN_WAIT2 sockets wait for a peer that never closes: the peer's CLOSE_WAIT is "
      "the actual problem, and the fix is there (close after reading EOF). Lowering "
      "tcp_fin_timeout only frees orphans sooner; a peer that closes later then gets a RST.");
}

} // namespace

core::Result<void> run_fin_wait2(Env& env) {
  auto& rec = env.rec;
  auto& r = rec.result();
  const Timing t = env.opt.fast ? kFast : kNormal;
  r.title = "an orphaned FIN_WAIT2 ends after tcp_fin_timeout, a half-closed one never does";
  const std::string fin = std::to_string(t.fin_timeout);
  if (auto s = write_sysctl("net.ipv4.tcp_fin_timeout", fin); !s) return s;
  r.sysctls.push_back({"net.ipv4.tcp_fin_timeout", fin});

  rec.start_clock();
  auto peer = Child::fork_run("peer", "lab-peer",
                              [](LineChannel& io) { return peer_body(io, kServerPort); });
  if (!peer) return tl::unexpected(peer.error());
  if (auto up = peer->expect("listening", 5); !up) return tl::unexpected(up.error());
  auto closer = Child::fork_run("client", "lab-closer",
                                [](LineChannel& io) { return closer_body(io, kServerPort); });
  if (!closer) return tl::unexpected(closer.error());
  r.processes.push_back({"peer", peer->pid(), "lab-peer"});
  r.processes.push_back({"client", closer->pid(), "lab-closer"});
  auto line = closer->expect("connected", 5);
  if (!line) return tl::unexpected(line.error());
  if (auto acc = peer->expect("accepted", 5); !acc) return tl::unexpected(acc.error());
  std::array<std::uint16_t, 2> ports{};
  std::istringstream in(line->substr(9));
  in >> ports[0] >> ports[1];
  const Tuple orphan{loopback(ports[0]), loopback(kServerPort)};
  const Tuple held{loopback(ports[1]), loopback(kServerPort)};

  r.setup.push_back(fmt::format(
      "pid {} (lab-closer) has two connections to pid {} (lab-peer), which never reads nor "
      "closes. At +{:.0f} s lab-closer close()s the first (ORPHAN: no process holds it any more) "
      "and shutdown(SHUT_WR)s the second, keeping its fd (HALF-CLOSED).",
      closer->pid(), peer->pid(), t.close_at));
  r.ends.push_back(
      {"orphan", "ORPHAN",
       fmt::format("{} -> {}, closed by pid {} (lab-closer)", core::to_string(orphan.local),
                   core::to_string(orphan.peer), closer->pid())});
  r.ends.push_back(
      {"orphan_peer", "ITS PEER", fmt::format("held by pid {} (lab-peer)", peer->pid())});
  r.ends.push_back(
      {"half_closed", "HALF-CLOSED",
       fmt::format("{} -> {}, held by pid {} (lab-closer)", core::to_string(held.local),
                   core::to_string(held.peer), closer->pid())});
  r.ends.push_back(
      {"half_closed_peer", "ITS PEER", fmt::format("held by pid {} (lab-peer)", peer->pid())});
  rec.begin_timeline();

  auto marks = watch(env, *closer, orphan, held, t);
  if (!marks) return tl::unexpected(marks.error());
  Observer obs;
  if (auto o = obs.refresh(); !o) return o;
  auto d = diagnose_namespace();
  if (!d) return tl::unexpected(d.error());
  rec.diagnosis("the orphan is gone; the half-closed socket and the peer's CLOSE_WAITs stay",
                d->diagnosis);
  record(env, *marks, t, obs, orphan, held, closer->pid(), peer->pid(), *d);
  lesson(env, t, d->kernel);
  return {};
}

} // namespace sockdoctor::lab
