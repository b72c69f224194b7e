// The live view's model: holders with trends, TIME_WAIT attribution, port budgets, filters.
#include "analyze/top_model.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "top_scene.hpp"

namespace sockdoctor::analyze {
namespace {

using core::TcpState;

const HolderRow* holder(const TopModel& m, std::int32_t pid) {
  for (const auto& h : m.holders)
    if (h.pid == pid) return &h;
  return nullptr;
}

const StateRow* state(const TopModel& m, TcpState s) {
  for (const auto& r : m.states)
    if (r.state == s) return &r;
  return nullptr;
}

TEST(TopModel, HoldersCarryCountsAgesAndTrends) {
  const auto m = testing::scene_view(6).model();
  EXPECT_EQ(m.sample, 6u);
  const auto* leaker = holder(m, 200);
  ASSERT_NE(leaker, nullptr);
  EXPECT_EQ(leaker->comm, "sd-leaker");
  EXPECT_EQ(leaker->close_wait, 13u);
  ASSERT_TRUE(leaker->trend);
  EXPECT_EQ(leaker->trend->kind, TrendKind::Leak);
  EXPECT_NEAR(leaker->trend->growth_per_min, 120.0, 1e-6);
  ASSERT_TRUE(leaker->oldest.seconds);
  EXPECT_DOUBLE_EQ(*leaker->oldest.seconds, 95.0); // 90 s since the FIN when first seen, +5 s
  const auto* churner = holder(m, 300);
  ASSERT_NE(churner, nullptr);
  ASSERT_TRUE(churner->trend);
  EXPECT_EQ(churner->trend->kind, TrendKind::Churn);
  const auto* orphan = holder(m, kNoOwner);
  ASSERT_NE(orphan, nullptr);
  EXPECT_EQ(orphan->fin_wait2, 1u);
  EXPECT_EQ(m.holders.front().pid, 200) << "sorted by count";
}

TEST(TopModel, SortKeys) {
  auto view = testing::scene_view(6);
  view.set_query({{}, SortKey::Age});
  EXPECT_EQ(view.model().holders.front().pid, 500); // 120 s since its FIN, +5
  view.set_query({{}, SortKey::Pid});
  const auto m = view.model();
  EXPECT_TRUE(std::is_sorted(m.holders.begin(), m.holders.end(),
                             [](const auto& a, const auto& b) { return a.pid < b.pid; }));
}

TEST(TopModel, TimeWaitCausesAreAttributed) {
  const auto m = testing::scene_view(3).model();
  ASSERT_EQ(m.time_wait.size(), 3u);
  const auto& traced = m.time_wait[0];
  EXPECT_EQ(traced.how, Attribution::Traced);
  EXPECT_EQ(traced.pid, 400);
  EXPECT_EQ(traced.comm, "curl-loop");
  EXPECT_EQ(traced.time_wait, 3u);
  const auto& unknown = m.time_wait[1];
  EXPECT_EQ(unknown.how, Attribution::Unknown);
  EXPECT_EQ(unknown.where, "-> 10.0.0.8:443");
  EXPECT_EQ(unknown.time_wait, 2u);
  const auto& listener = m.time_wait[2];
  EXPECT_EQ(listener.how, Attribution::Listener);
  EXPECT_EQ(listener.pid, 100);
  EXPECT_EQ(listener.where, "port 8080");
}

TEST(TopModel, PortBudgetPerDestination) {
  core::KernelSettings k;
  k.ip_local_port_range = core::PortRange{40000, 40099}; // 100 ports: the leak uses a lot
  auto view = testing::scene_view(0);
  const auto b = testing::scene_builder();
  for (int i = 0; i < 3; ++i) {
    auto s = testing::full_sample(
        b.snapshot(testing::scene_sockets(i), testing::scene_epoch() + std::chrono::seconds(i)));
    s.kernel = k;
    view.add_sample(std::move(s));
  }
  const auto m = view.model();
  ASSERT_FALSE(m.destinations.empty());
  const auto& d = m.destinations.front();
  EXPECT_EQ(d.destination, "10.0.0.9:5432");
  EXPECT_EQ(d.source, "10.0.0.1");
  EXPECT_EQ(d.in_use, 7u);
  EXPECT_EQ(d.usable, 100);
  EXPECT_DOUBLE_EQ(d.fraction, 0.07);
}

TEST(TopModel, FilterNarrowsCountsAndRows) {
  auto view = testing::scene_view(4);
  auto f = parse_top_filter("proc:leak");
  ASSERT_TRUE(f);
  view.set_query({*f, SortKey::Count});
  auto m = view.model();
  ASSERT_EQ(m.holders.size(), 1u);
  EXPECT_EQ(m.holders[0].pid, 200);
  const auto* cw = state(m, TcpState::CloseWait);
  ASSERT_NE(cw, nullptr);
  EXPECT_EQ(cw->count, 9u);
  EXPECT_EQ(state(m, TcpState::Listen), nullptr);
  f = parse_top_filter("port:443");
  ASSERT_TRUE(f);
  view.set_query({*f, SortKey::Count});
  m = view.model();
  EXPECT_TRUE(m.holders.empty());
  ASSERT_EQ(m.time_wait.size(), 1u);
  EXPECT_EQ(m.time_wait[0].time_wait, 2u);
}

TEST(TopFilterParse, Terms) {
  auto f = parse_top_filter("  port:443 state:close-wait  pid:12 proc:nginx ");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->port, 443);
  EXPECT_EQ(f->pid, 12);
  EXPECT_EQ(f->comm, "nginx");
  EXPECT_EQ(f->state_mask, core::state_bit(TcpState::CloseWait));
  EXPECT_EQ(f->describe(), "state CLOSE-WAIT, port 443, pid 12, process nginx");
  f = parse_top_filter(":80");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->port, 80);
  f = parse_top_filter("8080 time-wait java");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->port, 8080);
  EXPECT_EQ(f->state_mask, core::state_bit(TcpState::TimeWait));
  EXPECT_EQ(f->comm, "java");
  EXPECT_TRUE(parse_top_filter("")->empty());
  EXPECT_FALSE(parse_top_filter("port:99999"));
  EXPECT_FALSE(parse_top_filter("pid:x"));
  EXPECT_FALSE(parse_top_filter("state:nonsense"));
  EXPECT_FALSE(parse_top_filter("color:red"));
}

TEST(TopModel, LightSamplesCarryTheBigStates) {
  auto view = testing::scene_view(1);
  const auto b = testing::scene_builder();
  auto snap = b.snapshot(testing::scene_sockets(1),
                         testing::scene_epoch() + std::chrono::seconds(1), false);
  const std::uint32_t light = core::kAllStatesMask & ~core::state_bit(TcpState::Established) &
                              ~core::state_bit(TcpState::TimeWait);
  std::erase_if(snap.sockets, [&](const auto& s) { return !(light & core::state_bit(s.state)); });
  core::Sample s;
  s.counts = testing::count_of(snap);
  s.counts[static_cast<std::size_t>(TcpState::Established)] = 6; // from CurrEstab
  s.counts[static_cast<std::size_t>(TcpState::TimeWait)] = 6;    // from sockstat tw
  s.listed_states = light;
  s.snapshot = std::move(snap);
  view.add_sample(std::move(s));
  const auto m = view.model();
  const auto* est = state(m, TcpState::Established);
  ASSERT_NE(est, nullptr);
  EXPECT_FALSE(est->listed);
  EXPECT_EQ(est->count, 6u);
  EXPECT_TRUE(state(m, TcpState::CloseWait)->listed);
  ASSERT_TRUE(m.detail_age_s);
  EXPECT_DOUBLE_EQ(*m.detail_age_s, 1.0);
  // No owner scan in a light sample: new sockets wait for one (or for a targeted rescan).
  EXPECT_EQ(holder(m, 200)->close_wait, 3u);
  ASSERT_NE(holder(m, kOwnerPending), nullptr);
  EXPECT_EQ(holder(m, kOwnerPending)->close_wait, 6u); // 2 leaked + 4 churned
}

} // namespace
} // namespace sockdoctor::analyze
