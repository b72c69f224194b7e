// Test tool: writes synthetic intervals into a history database through store::HistoryWriter as
// fast as it can, so that nearly all of its time is spent inside a transaction and a kill -9 at
// any moment lands mid-write (tests/integration/history_crash_test.py).
//   history_hammer DB SECONDS    one run, then intervals (50 holders, 20 budgets, 20 findings
//                                each) until SECONDS pass; prints how many on a clean exit
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "store/history_writer.hpp"

using namespace sockdoctor;

namespace {

store::IntervalRecord synthetic(double time, std::uint64_t n) {
  store::IntervalRecord r;
  r.time = time;
  r.states[static_cast<std::size_t>(core::TcpState::CloseWait)] = 50 * (n % 100);
  r.total = 50 * (n % 100);
  for (int i = 0; i < 50; ++i)
    r.holders.push_back({.pid = 1000 + i,
                         .name = fmt::format("hammer{}", i),
                         .close_wait = n % 100,
                         .oldest_s = 1.0 * static_cast<double>(n)});
  for (int i = 0; i < 20; ++i) {
    r.budgets.push_back({.source = "127.0.0.1",
                         .destination = fmt::format("127.0.0.{}:80", i + 2),
                         .time_wait = n,
                         .usable = 28232});
    r.findings.push_back({.rule = "close_wait_leak", .title = "hammer", .pid = 1000 + i});
  }
  return r;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: history_hammer DB SECONDS\n");
    return 64;
  }
  auto w = store::HistoryWriter::open(argv[1], {.interval_s = 1, .retention_s = 600});
  if (!w) {
    std::fprintf(stderr, "history_hammer: %s\n", w.error().message.c_str());
    return 3;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto limit = std::chrono::duration<double>(std::atof(argv[2]));
  const double t0 = store::unix_seconds(std::chrono::system_clock::now());
  if (!w->note_start(t0)) return 3;
  std::uint64_t n = 0;
  while (std::chrono::steady_clock::now() - start < limit) {
    const double now = store::unix_seconds(std::chrono::system_clock::now());
    if (auto r = w->record(synthetic(now, n)); !r) {
      std::fprintf(stderr, "history_hammer: %s\n", r.error().message.c_str());
      return 3;
    }
    ++n;
  }
  std::printf("%llu\n", static_cast<unsigned long long>(n));
  return 0;
}
