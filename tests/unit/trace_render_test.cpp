// `sockdoctor trace` without BPF: filters, the summary's percentiles, text and NDJSON lines.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <ctime>
#include <string>

#include "analyze/transition_stats.hpp"
#include "render/trace_json.hpp"
#include "render/trace_text.hpp"

namespace sockdoctor {
namespace {

using core::TcpState;

core::SocketTransition transition(TcpState from, TcpState to, std::uint64_t in_old_ns = 0) {
  core::SocketTransition t;
  t.time_boot_ns = 10'000'000'000ULL; // 10 s after boot
  t.cookie = 4711;
  t.netns_ino = 4026532000u;
  t.local = {*core::parse_address("127.0.0.1"), 8080};
  t.peer = {*core::parse_address("127.0.0.1"), 51234};
  t.old_state = from;
  t.new_state = to;
  if (in_old_ns != 0) t.in_old_state_ns = in_old_ns;
  t.owner.pid = 321;
  t.owner.comm = "api";
  t.owner.role = core::OwnerRole::Accept;
  return t;
}

core::RegisterInfo info_at_epoch() {
  core::RegisterInfo info;
  info.started_boot_ns = 0;
  info.started_real_ns = 1'700'000'000'000'000'000LL; // 2023-11-14T22:13:20Z
  return info;
}

class UtcTime : public ::testing::Test {
protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};

TEST(TransitionFilter, OldOrNewStatePortPidCommNetns) {
  analyze::TransitionFilter f;
  const auto t = transition(TcpState::Established, TcpState::CloseWait);
  EXPECT_TRUE(f.matches(t));
  f.state_mask = core::state_bit(TcpState::CloseWait);
  EXPECT_TRUE(f.matches(t));
  f.state_mask = core::state_bit(TcpState::Established);
  EXPECT_TRUE(f.matches(t)) << "leaving a state counts";
  f.state_mask = core::state_bit(TcpState::TimeWait);
  EXPECT_FALSE(f.matches(t));
  f = {};
  f.ports = {51234};
  EXPECT_TRUE(f.matches(t)) << "peer port";
  f.ports = {9};
  EXPECT_FALSE(f.matches(t));
  f = {};
  f.pids = {321};
  f.comms = {"api"};
  f.netns_ino = 4026532000u;
  EXPECT_TRUE(f.matches(t));
  f.comms = {"ap"};
  EXPECT_FALSE(f.matches(t)) << "comm matches exactly";
  f = {};
  f.netns_ino = 1;
  EXPECT_FALSE(f.matches(t));
}

TEST(TransitionStats, PercentilesPerPairMostFrequentFirst) {
  analyze::TransitionStats stats;
  for (std::uint64_t ms = 1; ms <= 100; ++ms)
    stats.add(transition(TcpState::Established, TcpState::CloseWait, ms * 1'000'000));
  stats.add(transition(TcpState::Close, TcpState::SynSent)); // no duration
  stats.add(transition(TcpState::Close, TcpState::SynSent));
  auto s = stats.summary();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(stats.total(), 102u);
  EXPECT_EQ(s[0].from, TcpState::Established);
  EXPECT_EQ(s[0].count, 100u);
  EXPECT_EQ(s[0].in_from.p50_ns, 50'000'000u);
  EXPECT_EQ(s[0].in_from.p90_ns, 90'000'000u);
  EXPECT_EQ(s[0].in_from.p99_ns, 99'000'000u);
  EXPECT_EQ(s[0].in_from.max_ns, 100'000'000u);
  EXPECT_EQ(s[1].count, 2u);
  EXPECT_EQ(s[1].in_from.samples, 0u);
}

TEST(TransitionStats, ReservoirKeepsMemoryBoundedAndTheMaxExact) {
  analyze::TransitionStats stats;
  const std::size_t n = analyze::TransitionStats::kMaxSamples * 3;
  for (std::size_t i = 1; i <= n; ++i)
    stats.add(transition(TcpState::TimeWait, TcpState::Close, i));
  auto s = stats.summary();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].in_from.samples, n);
  EXPECT_EQ(s[0].in_from.max_ns, n);
  EXPECT_NEAR(static_cast<double>(s[0].in_from.p50_ns), n / 2.0, n * 0.02);
}

TEST(Percentile, NearestRank) {
  EXPECT_EQ(analyze::percentile({}, 50), 0u);
  EXPECT_EQ(analyze::percentile({7}, 99), 7u);
  EXPECT_EQ(analyze::percentile({1, 2, 3, 4}, 50), 2u);
  EXPECT_EQ(analyze::percentile({1, 2, 3, 4}, 51), 3u);
  EXPECT_EQ(analyze::percentile({1, 2, 3, 4}, 100), 4u);
}

TEST(TraceDuration, PrecisionWhereItMatters) {
  EXPECT_EQ(render::format_trace_duration(812'000), "812us");
  EXPECT_EQ(render::format_trace_duration(12'340'000), "12.3ms");
  EXPECT_EQ(render::format_trace_duration(1'204'000'000), "1.204s");
  EXPECT_EQ(render::format_trace_duration(250'000'000'000ULL), "4m10s");
  EXPECT_EQ(render::format_trace_duration(7'380'000'000'000ULL), "2h03m");
}

TEST_F(UtcTime, TextRowColumnsAndEscapedComm) {
  auto t = transition(TcpState::Established, TcpState::CloseWait, 1'204'000'000);
  t.owner.comm = "evil\x1b]0;pwned\x07";
  const std::string row = render::format_trace_row(t, info_at_epoch());
  EXPECT_EQ(row, "22:13:30.000  4026532000  127.0.0.1:8080        127.0.0.1:51234       "
                 "ESTAB -> CLOSE-WAIT         1.204s  321/evil\\x1b]0;pwned\\x07 (listener's)\n");
  EXPECT_EQ(render::format_trace_header().substr(0, 4), "TIME");
}

TEST_F(UtcTime, TextRowUnknownsAndTimeWaitKinds) {
  auto t = transition(TcpState::FinWait2, TcpState::TimeWait);
  t.kind = core::TransitionKind::TimeWaitStart;
  t.owner = {};
  const std::string row = render::format_trace_row(t, info_at_epoch());
  EXPECT_NE(row.find("FIN-WAIT-2 -> TIME-WAIT [tw]"), std::string::npos) << row;
  EXPECT_NE(row.find("        ?  -\n"), std::string::npos) << row;
  t.kind = core::TransitionKind::TimeWaitExpire;
  t.old_state = TcpState::TimeWait;
  t.new_state = TcpState::Close;
  EXPECT_NE(render::format_trace_row(t, info_at_epoch()).find("TIME-WAIT -> CLOSE [expired]"),
            std::string::npos);
}

TEST_F(UtcTime, JsonEventIsValidWithEscapesAndNulls) {
  auto t = transition(TcpState::Established, TcpState::FinWait1, 2'500'000);
  t.owner.role = core::OwnerRole::Close;
  t.owner.comm = std::string("a\"b\\c\x01\xff", 7);
  const auto line = render::format_trace_json_event(t, info_at_epoch());
  ASSERT_EQ(line.back(), '\n');
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["type"], "transition");
  EXPECT_EQ(j["time"], "2023-11-14T22:13:30.000+00:00");
  EXPECT_EQ(j["cookie"], "4711");
  EXPECT_EQ(j["old_state"], "established");
  EXPECT_EQ(j["new_state"], "fin_wait1");
  EXPECT_DOUBLE_EQ(j["in_old_state_s"].get<double>(), 0.0025);
  EXPECT_EQ(j["in_old_state_basis"], "traced");
  EXPECT_EQ(j["owner"]["role"], "close");
  EXPECT_EQ(j["owner"]["comm"].get<std::string>(), "a\"b\\c\x01\\xff");
  EXPECT_EQ(j["local"]["port"], 8080);
  t.owner = {};
  t.in_old_state_ns.reset();
  const auto k = nlohmann::json::parse(render::format_trace_json_event(t, info_at_epoch()));
  EXPECT_TRUE(k["owner"].is_null());
  EXPECT_TRUE(k["in_old_state_s"].is_null());
  EXPECT_TRUE(k["in_old_state_basis"].is_null());
}

render::TraceSummaryView summary_view() {
  analyze::TransitionStats stats;
  stats.add(transition(TcpState::Established, TcpState::CloseWait, 3'000'000'000ULL));
  stats.add(transition(TcpState::Close, TcpState::SynSent));
  render::TraceSummaryView v;
  v.pairs = stats.summary();
  v.received = 10;
  v.shown = 2;
  v.seconds = 4.25;
  v.counters.inserts = 100;
  v.counters.deletes = 60;
  v.counters.ring_drops = 7;
  v.counters.insert_failures = 1;
  v.counters.skipped_runs = 3;
  v.counters.evictions = 10;
  v.counters.reclaimed = 4;
  v.live_entries = 30;
  v.capacity = 32;
  v.time_wait_traced = true;
  return v;
}

TEST(TraceSummary, TextSaysWhatWasLost) {
  const auto text = render::format_trace_summary(summary_view());
  EXPECT_NE(text.find("-- 10 transitions in 4.2 s (2 shown)"), std::string::npos) << text;
  EXPECT_NE(text.find("30 of 32 entries, 10 evicted, 1 not stored, 7 events lost"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ESTAB -> CLOSE-WAIT"), std::string::npos);
  EXPECT_NE(text.find("3.000s"), std::string::npos);
  EXPECT_NE(text.find("CLOSE -> SYN-SENT"), std::string::npos);
  EXPECT_NE(text.find(", 3 events skipped by the kernel (nested)"), std::string::npos) << text;
  EXPECT_NE(text.find(", 4 ended TIME_WAIT entries reused"), std::string::npos) << text;
  auto quiet = summary_view();
  quiet.counters.skipped_runs = 0;
  EXPECT_EQ(render::format_trace_summary(quiet).find("skipped"), std::string::npos)
      << "nothing said when nothing was skipped";
}

TEST(TraceSummary, JsonSummary) {
  const auto j = nlohmann::json::parse(render::format_trace_json_summary(summary_view()));
  EXPECT_EQ(j["type"], "summary");
  EXPECT_EQ(j["register"]["evicted"], 10);
  EXPECT_EQ(j["register"]["reclaimed"], 4);
  EXPECT_EQ(j["register"]["ring_drops"], 7);
  EXPECT_EQ(j["register"]["skipped_runs"], 3);
  EXPECT_EQ(j["register"]["entries"], 30);
  ASSERT_EQ(j["pairs"].size(), 2u);
  EXPECT_EQ(j["pairs"][0]["from"], "established");
  EXPECT_DOUBLE_EQ(j["pairs"][0]["p50_s"].get<double>(), 3.0);
  EXPECT_TRUE(j["pairs"][1]["p50_s"].is_null());
  auto v = summary_view();
  v.live_entries.reset();
  const auto k = nlohmann::json::parse(render::format_trace_json_summary(v));
  EXPECT_TRUE(k["register"]["entries"].is_null()) << "unknown, not zero";
  EXPECT_EQ(k["register"]["evicted"], 10) << "counted by the programs, known without the walk";
}

} // namespace
} // namespace sockdoctor
