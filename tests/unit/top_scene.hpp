// A small scripted host for the live-view tests: a CLOSE_WAIT leaker, churn, TIME_WAIT from a
// traced client, a server and an unknown one, and a hostile process name.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "analyze/top_model.hpp"
#include "core/snapshot.hpp"

namespace sockdoctor::testing {

using analyze::Clock;

// 2026-01-02T03:04:05Z
inline Clock::time_point scene_epoch() {
  return Clock::time_point(std::chrono::seconds(1767323045));
}

inline core::Endpoint
ep(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
  core::Endpoint e;
  e.addr.family = core::Family::Ipv4;
  e.addr.bytes = {a, b, c, d};
  e.port = port;
  return e;
}

struct SceneSocket {
  std::uint64_t cookie;
  core::TcpState state;
  core::Endpoint local, peer;
  std::int32_t pid = 0; // 0: no fd
  std::uint32_t timer_ms = 0;
  std::uint32_t last_ack_ms = 0;
};

// Builds snapshots from socket lists; each socket with a pid gets an inode and an fd.
class SceneBuilder {
public:
  void process(std::int32_t pid, std::string comm, std::uint32_t fds = 10) {
    procs_.push_back({pid, std::move(comm), fds});
  }

  core::Snapshot
  snapshot(const std::vector<SceneSocket>& socks, Clock::time_point t, bool owners = true) const {
    core::Snapshot snap;
    snap.taken_at = t;
    snap.source = "sock_diag";
    std::vector<std::pair<std::uint32_t, std::int32_t>> refs;
    for (const auto& s : socks) {
      core::TcpSocket x;
      x.cookie = s.cookie;
      x.state = s.state;
      x.local = s.local;
      x.peer = s.peer;
      x.inode = s.pid > 0 ? static_cast<std::uint32_t>(100000 + s.cookie) : 0;
      if (s.state == core::TcpState::TimeWait ||
          (s.state == core::TcpState::FinWait2 && s.pid == 0)) {
        x.timer = core::TimerKind::TimeWait;
        x.timer_remaining_ms = s.timer_ms;
      }
      if (x.inode != 0) {
        x.has_info = true;
        x.info.last_ack_recv_ms = s.last_ack_ms;
        refs.push_back({x.inode, s.pid});
      }
      snap.sockets.push_back(x);
    }
    if (!owners) return snap;
    for (const auto& p : procs_) {
      core::ProcessInfo info;
      info.pid = p.pid;
      info.comm = p.comm;
      info.cmdline = p.comm + " --serve";
      info.fd_count = p.fds;
      const auto index = snap.owners.add_process(info);
      int fd = 3;
      for (const auto& [inode, pid] : refs)
        if (pid == p.pid) snap.owners.add_fd(inode, index, fd++);
    }
    snap.owners.finalize();
    snap.owners.scanned = true;
    return snap;
  }

private:
  struct Proc {
    std::int32_t pid;
    std::string comm;
    std::uint32_t fds;
  };
  std::vector<Proc> procs_;
};

inline analyze::StateCounts count_of(const core::Snapshot& s) {
  analyze::StateCounts c{};
  for (const auto& x : s.sockets)
    ++c[static_cast<std::size_t>(x.state)];
  return c;
}

inline core::Sample full_sample(core::Snapshot snap) {
  core::Sample s;
  s.counts = count_of(snap);
  s.listed_states = core::kAllStatesMask;
  s.kernel = core::KernelSettings{};
  s.snapshot = std::move(snap);
  return s;
}

// The scripted host at sample i (0-based), one second apart.
inline std::vector<SceneSocket> scene_sockets(int i) {
  using core::TcpState;
  std::vector<SceneSocket> v;
  const auto api = ep(10, 0, 0, 1, 8080);
  const auto db = ep(10, 0, 0, 9, 5432);
  v.push_back({1, TcpState::Listen, api, ep(0, 0, 0, 0, 0), 100});
  // api-server's live connections from clients.
  for (std::uint16_t k = 0; k < 6; ++k)
    v.push_back({10u + k, TcpState::Established, api,
                 ep(10, 0, 1, 2, static_cast<std::uint16_t>(50000 + k)), 100});
  // sd-leaker: pool connections to the database that the database closed; 3 old + 2 per sample.
  const int leaked = 3 + 2 * i;
  for (int k = 0; k < leaked; ++k)
    v.push_back({1000u + static_cast<std::uint64_t>(k), TcpState::CloseWait,
                 ep(10, 0, 0, 1, static_cast<std::uint16_t>(40000 + k)), db, 200, 0,
                 k < 3 ? 90000u : 500u});
  // churner: 4 CLOSE_WAIT at any time, all replaced every sample.
  for (int k = 0; k < 4; ++k)
    v.push_back({5000u + static_cast<std::uint64_t>(i * 4 + k), TcpState::CloseWait,
                 ep(10, 0, 0, 1, 8080), ep(10, 0, 3, 4, static_cast<std::uint16_t>(30000 + k)), 300,
                 0, 200});
  // curl-loop: connections to a web server, seen alive at sample 0, TIME_WAIT afterwards.
  for (std::uint16_t k = 0; k < 3; ++k)
    v.push_back({2000u + k, i == 0 ? TcpState::Established : TcpState::TimeWait,
                 ep(10, 0, 0, 1, static_cast<std::uint16_t>(45000 + k)), ep(10, 0, 0, 7, 80),
                 i == 0 ? 400 : 0, static_cast<std::uint32_t>(60000 - 1000 * i)});
  // TIME_WAIT on the listener's port: the api server closed first.
  v.push_back({3000, TcpState::TimeWait, api, ep(10, 0, 1, 3, 51000), 0, 42000});
  // TIME_WAIT toward a destination nobody here was seen talking to.
  for (std::uint16_t k = 0; k < 2; ++k)
    v.push_back({4000u + k, TcpState::TimeWait,
                 ep(10, 0, 0, 1, static_cast<std::uint16_t>(47000 + k)), ep(10, 0, 0, 8, 443), 0,
                 30000});
  // A process whose name is an escape sequence holds one CLOSE_WAIT.
  v.push_back(
      {6000, TcpState::CloseWait, ep(10, 0, 0, 1, 8080), ep(10, 0, 5, 6, 33333), 500, 0, 120000});
  // An orphaned FIN_WAIT2 (no fd; timer).
  v.push_back({7000, TcpState::FinWait2, ep(10, 0, 0, 1, 8080), ep(10, 0, 1, 9, 52000), 0, 20000});
  return v;
}

inline SceneBuilder scene_builder() {
  SceneBuilder b;
  b.process(100, "api-server");
  b.process(200, "sd-leaker");
  b.process(300, "churner");
  b.process(400, "curl-loop");
  b.process(500, "evil\x1b]0;pwned\x07\x1b[2J");
  return b;
}

// A LiveView after `samples` samples of the scene.
inline analyze::LiveView scene_view(int samples, analyze::LiveOptions opts = {}) {
  analyze::LiveView view(opts);
  const auto b = scene_builder();
  for (int i = 0; i < samples; ++i)
    view.add_sample(
        full_sample(b.snapshot(scene_sockets(i), scene_epoch() + std::chrono::seconds(i))));
  return view;
}

} // namespace sockdoctor::testing
