// Onset, growth per hour, pid changes and daemon restarts from synthetic history rows.
#include "store/history_trends.hpp"

#include <gtest/gtest.h>

namespace sockdoctor::store {
namespace {

constexpr double kT0 = 1'800'000'000.0;

TEST(HistoryTrends, LeastSquaresSlope) {
  const std::vector<double> x{kT0, kT0 + 1, kT0 + 2, kT0 + 3};
  EXPECT_NEAR(least_squares_slope(x, std::vector<double>{1, 3, 5, 7}), 2.0, 1e-9);
  EXPECT_NEAR(least_squares_slope(x, std::vector<double>{0, 1, 0, 1}), 0.2, 1e-9);
  EXPECT_EQ(least_squares_slope(std::vector<double>{kT0}, std::vector<double>{3}), 0);
  EXPECT_EQ(least_squares_slope(std::vector<double>{kT0, kT0}, std::vector<double>{1, 5}), 0);
}

TEST(HistoryTrends, OnsetIsTheFirstIntervalAfterTheLastLow) {
  using V = std::vector<double>;
  EXPECT_EQ(rise_onset(V{0, 0, 0, 1, 2, 2, 3}), 3u);
  EXPECT_EQ(rise_onset(V{5, 5, 5, 6, 7, 8}), 3u) << "a steady base, then growth";
  EXPECT_EQ(rise_onset(V{0, 1, 2, 3, 2, 3, 4, 5}), 1u) << "a dip above the low does not move it";
  EXPECT_EQ(rise_onset(V{0, 1, 2, 3, 0, 0, 1, 2}), 6u) << "a restart starts a new rise";
  EXPECT_EQ(rise_onset(V{0, 4, 4, 4}), 1u) << "grew, then stopped: still its rise";
  EXPECT_FALSE(rise_onset(V{3, 3, 3})) << "flat";
  EXPECT_FALSE(rise_onset(V{0, 5, 0})) << "back at its low";
  EXPECT_FALSE(rise_onset(V{}));
  EXPECT_FALSE(rise_onset(V{7}));
}

IntervalRecord interval(double t, std::vector<HolderRecord> holders, std::uint64_t cw_total = 0) {
  IntervalRecord r;
  r.time = t;
  r.holders = std::move(holders);
  r.states[static_cast<std::size_t>(core::TcpState::CloseWait)] = cw_total;
  return r;
}

HolderRecord h(std::int32_t pid, std::string name, std::uint64_t cw) {
  return {.pid = pid, .name = std::move(name), .close_wait = cw};
}

// "api" steady at 2; "leaker" absent for 3 intervals, then +2 per 10 s interval.
History leak_history() {
  History hist;
  hist.window_start = kT0 - 100;
  hist.window_end = kT0 + 1000;
  hist.runs = {{.id = 1, .started = kT0 - 500, .pid = 10, .interval_s = 10},
               {.id = 2, .started = kT0 - 5, .pid = 11, .interval_s = 10}};
  for (int i = 0; i < 10; ++i) {
    std::vector<HolderRecord> hs{h(50, "api", 2)};
    if (i >= 3) hs.push_back(h(100, "leaker", static_cast<std::uint64_t>(2 * (i - 2))));
    hist.intervals.push_back(interval(kT0 + 10.0 * i, hs, 2 + (i >= 3 ? 2 * (i - 2) : 0)));
  }
  return hist;
}

TEST(HistoryTrends, LeakOnsetAndGrowthPerHolder) {
  const auto t = history_trends(leak_history());
  ASSERT_EQ(t.holders.size(), 2u);
  const auto& leak = t.holders[0];
  EXPECT_EQ(leak.name, "leaker") << "rising holders first";
  ASSERT_TRUE(leak.onset);
  EXPECT_DOUBLE_EQ(*leak.onset, kT0 + 30);
  EXPECT_FALSE(leak.onset_at_window_start);
  EXPECT_NEAR(leak.growth_per_hour, 2.0 / 10 * 3600, 1e-6); // from its low at kT0+20
  EXPECT_EQ(leak.close_wait, 14u);
  EXPECT_EQ(leak.peak_close_wait, 14u);
  EXPECT_DOUBLE_EQ(leak.first_seen, kT0 + 30);
  EXPECT_EQ(leak.pids, std::vector<std::int32_t>{100});
  EXPECT_TRUE(leak.rising());
  const auto& api = t.holders[1];
  EXPECT_EQ(api.name, "api");
  EXPECT_FALSE(api.onset);
  EXPECT_NEAR(api.growth_per_hour, 0, 1e-9);
  EXPECT_EQ(t.close_wait_total.back(), 16);
  ASSERT_TRUE(t.interval_s);
  EXPECT_NEAR(*t.interval_s, 10, 1e-9);
}

TEST(HistoryTrends, RestartsOfHoldersAndOfTheDaemon) {
  auto hist = leak_history();
  // The leaker is restarted at kT0+100 (new pid, its sockets gone), then leaks again.
  hist.intervals.push_back(interval(kT0 + 100, {h(50, "api", 2)}));
  hist.intervals.push_back(interval(kT0 + 110, {h(50, "api", 2), h(200, "leaker", 1)}));
  hist.intervals.push_back(interval(kT0 + 120, {h(50, "api", 2), h(200, "leaker", 3)}));
  const auto t = history_trends(hist);
  const auto& leak = t.holders[0];
  ASSERT_EQ(leak.restarts.size(), 1u);
  EXPECT_DOUBLE_EQ(leak.restarts[0].time, kT0 + 110);
  EXPECT_EQ(leak.restarts[0].before, std::vector<std::int32_t>{100});
  EXPECT_EQ(leak.restarts[0].after, std::vector<std::int32_t>{200});
  ASSERT_TRUE(leak.onset);
  EXPECT_DOUBLE_EQ(*leak.onset, kT0 + 110) << "the current rise began after the restart";
  EXPECT_NEAR(leak.growth_per_hour, 0.15 * 3600, 1e-6); // 0, 1, 3 over 20 s
  EXPECT_EQ(leak.peak_close_wait, 14u);
  EXPECT_TRUE(t.holders[1].restarts.empty());
  // Runs: the first of the database is a start, the second (inside the window) a restart.
  ASSERT_EQ(t.runs.size(), 1u);
  EXPECT_EQ(t.runs[0].run.pid, 11);
  EXPECT_TRUE(t.runs[0].restart);
  EXPECT_EQ(t.daemon_restarts, 1u);
}

TEST(HistoryTrends, ASharedNameKeepsItsIdentityWhilePidsOverlap) {
  History hist;
  hist.window_end = kT0 + 100;
  hist.intervals.push_back(interval(kT0, {h(1, "w", 1), h(2, "w", 1)}));
  hist.intervals.push_back(interval(kT0 + 1, {h(2, "w", 2), h(3, "w", 1)}));
  const auto t = history_trends(hist);
  ASSERT_EQ(t.holders.size(), 1u);
  EXPECT_TRUE(t.holders[0].restarts.empty()) << "pid 2 stayed: a worker came and went";
  EXPECT_EQ(t.holders[0].close_wait, 3u) << "processes of one name are summed";
  EXPECT_EQ(t.holders[0].pids, (std::vector<std::int32_t>{2, 3}));
}

TEST(HistoryTrends, HolderFilterAndOrphans) {
  auto hist = leak_history();
  hist.intervals.back().holders.push_back({.pid = 0, .name = "", .fin_wait2 = 4});
  auto t = history_trends(hist, {.holder = "api"});
  ASSERT_EQ(t.holders.size(), 1u);
  EXPECT_EQ(t.holders[0].name, "api");
  t = history_trends(hist);
  ASSERT_EQ(t.holders.size(), 3u);
  EXPECT_EQ(t.holders[2].name, "");
  EXPECT_EQ(t.holders[2].fin_wait2, 4u);
  EXPECT_TRUE(t.holders[2].pids.empty());
}

TEST(HistoryTrends, RiseThatBeganBeforeTheWindow) {
  History hist;
  hist.window_end = kT0 + 100;
  for (int i = 0; i < 5; ++i)
    hist.intervals.push_back(interval(kT0 + i, {h(7, "old", 10 + static_cast<std::uint64_t>(i))}));
  const auto t = history_trends(hist);
  ASSERT_TRUE(t.holders[0].onset);
  EXPECT_TRUE(t.holders[0].onset_at_window_start);
  EXPECT_NEAR(t.holders[0].growth_per_hour, 3600, 1e-6);
}

TEST(HistoryTrends, GapsAreStretchesOfMoreThanThreeIntervals) {
  auto hist = leak_history(); // run 2 records every 10 s; run 1 is not in the intervals
  for (auto& iv : hist.intervals)
    iv.run = 2;
  hist.intervals.push_back(interval(kT0 + 120, {})); // 30 s after the last: 3 periods, no gap
  hist.intervals.push_back(interval(kT0 + 151, {})); // 31 s: a gap
  hist.intervals.back().run = 2;
  hist.intervals[hist.intervals.size() - 2].run = 2;
  const auto t = history_trends(hist);
  ASSERT_EQ(t.gaps.size(), 1u);
  EXPECT_DOUBLE_EQ(t.gaps[0].from, kT0 + 120);
  EXPECT_DOUBLE_EQ(t.gaps[0].to, kT0 + 151);
}

} // namespace
} // namespace sockdoctor::store
