// What `ls --json` and the `ls` table cost at a million sockets, without the kernel: a synthetic
// snapshot rendered into a byte-counting stream. Disabled by default; run it from a release build:
//   build/release/tests/render_bench_test --gtest_also_run_disabled_tests
//     --gtest_filter='*DISABLED_Measure*'   (on a shared box: under flock /work/locks/farm.lock)
// SD_BENCH_SOCKETS (default 1000000) and SD_BENCH_RUNS (default 5) change the size and the runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <streambuf>
#include <vector>

#include "analyze/age.hpp"
#include "render/socket_list.hpp"

namespace sockdoctor {
namespace {

// Counts what is written and throws it away, like `> /dev/null` without the syscalls.
class CountingBuf : public std::streambuf {
public:
  std::size_t bytes = 0;

protected:
  std::streamsize xsputn(const char*, std::streamsize n) override {
    bytes += static_cast<std::size_t>(n);
    return n;
  }
  int_type overflow(int_type c) override {
    ++bytes;
    return c;
  }
};

int env_int(const char* name, int def) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : def;
}

// 60 % ESTABLISHED, 30 % CLOSE_WAIT, 10 % FIN_WAIT2 over 100 processes, like bench/sockfarm.
core::Snapshot synthetic_host(std::uint32_t n) {
  core::Snapshot snap;
  snap.source = "synthetic";
  snap.sockets.reserve(n);
  std::vector<std::uint32_t> procs;
  for (int p = 0; p < 100; ++p)
    procs.push_back(snap.owners.add_process(
        {.pid = 1000 + p, .uid = 1000, .comm = "holder", .cmdline = "holder --port 5000"}));
  const auto local = *core::parse_address("127.0.0.1");
  const auto peer = *core::parse_address("127.0.0.2");
  for (std::uint32_t i = 0; i < n; ++i) {
    core::TcpSocket s;
    s.state = i % 10 < 6   ? core::TcpState::Established
              : i % 10 < 9 ? core::TcpState::CloseWait
                           : core::TcpState::FinWait2;
    s.local = {local, static_cast<std::uint16_t>(1024 + i % 60000)};
    s.peer = {peer, 5000};
    s.inode = 100000 + i;
    s.cookie = 0x100000000ull + i;
    s.has_info = true;
    s.info.last_ack_recv_ms = i % 100000;
    s.info.rtt_us = 50 + i % 7;
    snap.sockets.push_back(s);
    snap.owners.add_fd(s.inode, procs[i % procs.size()], static_cast<std::int32_t>(3 + i / 100));
  }
  snap.owners.finalize();
  snap.owners.scanned = true;
  return snap;
}

template <typename Render> void measure(const char* what, int runs, Render&& render) {
  std::vector<double> ms;
  std::size_t bytes = 0;
  for (int r = 0; r < runs; ++r) {
    CountingBuf buf;
    std::ostream out(&buf);
    const auto t0 = std::chrono::steady_clock::now();
    render(out);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    bytes = buf.bytes;
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%-6s median %8.1f ms  min %8.1f ms  max %8.1f ms  %zu bytes  (%d runs)\n", what,
              ms[ms.size() / 2], ms.front(), ms.back(), bytes, runs);
}

TEST(SocketListBench, DISABLED_MeasureOneMillion) {
  const auto n =
      static_cast<std::uint32_t>(std::clamp(env_int("SD_BENCH_SOCKETS", 1000000), 1, 5000000));
  const int runs = std::clamp(env_int("SD_BENCH_RUNS", 5), 1, 50);
  const auto snap = synthetic_host(n);
  std::vector<std::uint32_t> rows(n);
  for (std::uint32_t i = 0; i < n; ++i)
    rows[i] = i;
  core::KernelSettings kernel;
  std::vector<analyze::Age> ages;
  ages.reserve(n);
  for (const auto& s : snap.sockets)
    ages.push_back(analyze::estimate_age(s, kernel));
  const render::SocketListView view{&snap, rows, ages, true};
  std::printf("%u sockets\n", n);
  measure("json", runs, [&](std::ostream& out) { render::render_socket_json(out, view); });
  measure("table", runs, [&](std::ostream& out) { render::render_socket_table(out, view, {}); });
}

} // namespace
} // namespace sockdoctor
