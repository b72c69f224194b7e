// TIME_WAIT rule: ephemeral-port budget per destination, tw_reuse, tcp_max_tw_buckets.
#include <gtest/gtest.h>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/diagnose.hpp"

using namespace sockdoctor;
using analyze::Finding;
using analyze::Severity;
using core::TcpState;
using test_support::SnapshotBuilder;

namespace {

std::vector<Finding> run(const core::Snapshot& snap,
                         const core::KernelSettings& k,
                         const char* id = "ephemeral_port_exhaustion") {
  std::vector<Finding> out;
  for (auto& f : analyze::diagnose(snap, k).findings)
    if (f.id == id) out.push_back(std::move(f));
  return out;
}

const analyze::EvidenceValue& ev(const Finding& f, const char* key) {
  const auto* e = f.find(key);
  if (e == nullptr) throw std::runtime_error(std::string("no evidence ") + key);
  return e->value;
}

std::int64_t ev_int(const Finding& f, const char* key) {
  return std::get<std::int64_t>(ev(f, key));
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (contains(s, needle)) return true;
  return false;
}

// A namespace like the integration test: 200 ports, reuse off, a 6.18 kernel.
core::KernelSettings narrow() {
  core::KernelSettings k;
  k.kernel_major = 6;
  k.kernel_minor = 18;
  k.ip_local_port_range = core::PortRange{40000, 40199};
  k.tcp_tw_reuse = 0;
  k.tcp_timestamps = 1;
  return k;
}

void storm(SnapshotBuilder& b,
           int n,
           const std::string& src,
           const std::string& dst,
           int first_port = 40000,
           double age = 20) {
  for (int i = 0; i < n; ++i)
    b.time_wait(src + ":" + std::to_string(first_port + i), dst, age);
}

} // namespace

TEST(TimeWaitRule, NinetyPercentOfTheRangeIsCritical) {
  SnapshotBuilder b;
  b.process(900, "loadgen");
  storm(b, 180, "127.0.0.1", "127.0.0.1:8080");
  b.owned(900, TcpState::Established, "127.0.0.1:40190", "127.0.0.1:8080");
  auto f = run(b.finish(), narrow());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Critical);
  EXPECT_EQ(f[0].peer, "127.0.0.1:8080");
  ASSERT_TRUE(f[0].process); // the only process with open connections there
  EXPECT_EQ(f[0].process->pid, 900);
  EXPECT_EQ(ev_int(f[0], "usable_ports"), 200);
  EXPECT_EQ(ev_int(f[0], "time_wait"), 180);
  EXPECT_EQ(ev_int(f[0], "live"), 1);
  EXPECT_EQ(ev_int(f[0], "blocked_ports"), 181);
  EXPECT_FALSE(std::get<bool>(ev(f[0], "tw_reuse_applies")));
  EXPECT_DOUBLE_EQ(std::get<double>(ev(f[0], "block_seconds")), 60);
  EXPECT_DOUBLE_EQ(std::get<double>(ev(f[0], "max_rate_per_second")), 3); // 199 / 60
  EXPECT_TRUE(contains(f[0].title, "EADDRNOTAVAIL"));
  EXPECT_TRUE(contains(f[0].explanation, "a fixed 60 s"));
  EXPECT_TRUE(contains(f[0].explanation, "tcp_tw_reuse=0"));
  EXPECT_TRUE(any_contains(f[0].remedies, "net.ipv4.tcp_tw_reuse=1"));
  EXPECT_TRUE(any_contains(f[0].remedies, "40000-40199"));
  EXPECT_TRUE(any_contains(f[0].remedies, "does not exist since Linux 4.12"));
  EXPECT_FALSE(contains(f[0].explanation, "240"));
  EXPECT_FALSE(any_contains(f[0].remedies, "tcp_max_tw_buckets"));
}

TEST(TimeWaitRule, HalfTheRangeIsAWarningAndLessIsNothing) {
  SnapshotBuilder b;
  storm(b, 120, "127.0.0.1", "127.0.0.1:8080");
  auto f = run(b.finish(), narrow());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Warning);
  SnapshotBuilder b2;
  storm(b2, 90, "127.0.0.1", "127.0.0.1:8080");
  EXPECT_TRUE(run(b2.finish(), narrow()).empty());
}

TEST(TimeWaitRule, DestinationsAreCountedSeparately) {
  SnapshotBuilder b;
  storm(b, 80, "127.0.0.1", "127.0.0.1:8080");
  storm(b, 80, "127.0.0.1", "127.0.0.1:8081"); // same ports, different 4-tuples
  EXPECT_TRUE(run(b.finish(), narrow()).empty());
}

TEST(TimeWaitRule, ReuseOnLoopbackWithTimestampsFreesOldEntries) {
  auto k = narrow();
  k.tcp_tw_reuse = 2;
  SnapshotBuilder b;
  b.process(900, "loadgen");
  storm(b, 190, "127.0.0.1", "127.0.0.1:8080", 40000, /*age=*/30);
  auto& live = b.owned(900, TcpState::Established, "127.0.0.1:40195", "127.0.0.1:8080");
  live.has_info = true;
  live.info.options = core::kTcpiOptTimestamps;
  EXPECT_TRUE(run(b.finish(), k).empty());
}

TEST(TimeWaitRule, ReuseNeedsTimestampsNegotiated) {
  auto k = narrow();
  k.tcp_tw_reuse = 1;
  SnapshotBuilder b;
  b.process(900, "loadgen");
  storm(b, 190, "127.0.0.1", "127.0.0.1:8080");
  auto& live = b.owned(900, TcpState::Established, "127.0.0.1:40195", "127.0.0.1:8080");
  live.has_info = true;
  live.info.options = 0; // the peer did not do timestamps
  auto f = run(b.finish(), k);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Critical);
  EXPECT_EQ(std::get<std::string>(ev(f[0], "timestamps")), "not negotiated");
  EXPECT_TRUE(any_contains(f[0].remedies, "timestamps are not negotiated"));
}

TEST(TimeWaitRule, ReuseTwoDoesNotApplyToRemotePeers) {
  auto k = narrow();
  k.tcp_tw_reuse = 2;
  SnapshotBuilder b;
  storm(b, 190, "10.0.0.1", "10.0.0.9:443", 40000, 30);
  auto f = run(b.finish(), k);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].explanation, "applies only to loopback connections"));
  EXPECT_TRUE(any_contains(f[0].remedies, "net.ipv4.tcp_tw_reuse=1 (now 2)"));
}

TEST(TimeWaitRule, ServerSideTimeWaitIsNotAPortProblem) {
  SnapshotBuilder b;
  b.process(80, "nginx");
  b.owned(80, TcpState::Listen, "0.0.0.0:40100", "0.0.0.0:0"); // listening inside the range
  for (int i = 0; i < 190; ++i)
    b.time_wait("127.0.0.1:40100", "127.0.0.1:" + std::to_string(50000 + i));
  EXPECT_TRUE(run(b.finish(), narrow()).empty());
}

TEST(TimeWaitRule, ListeningAndReservedPortsShrinkTheBudget) {
  auto k = narrow();
  k.ip_local_reserved_ports = {{40000, 40049}}; // 150 left
  SnapshotBuilder b;
  b.process(80, "srv");
  b.owned(80, TcpState::Listen, "0.0.0.0:40199", "0.0.0.0:0"); // 149 left
  storm(b, 135, "127.0.0.1", "127.0.0.1:8080", 40050);
  auto f = run(b.finish(), k);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(ev_int(f[0], "usable_ports"), 149);
  EXPECT_EQ(f[0].severity, Severity::Critical); // 135 / 149 = 90.6%
}

TEST(TimeWaitRule, PortsOutsideTheRangeWereBoundExplicitly) {
  SnapshotBuilder b;
  storm(b, 190, "127.0.0.1", "127.0.0.1:8080", 30000);
  EXPECT_TRUE(run(b.finish(), narrow()).empty());
}

TEST(TimeWaitRule, AlibabaTimeWaitLengthIsUsed) {
  auto k = narrow();
  k.tcp_tw_timeout = 20;
  SnapshotBuilder b;
  storm(b, 190, "127.0.0.1", "127.0.0.1:8080", 40000, 5);
  auto f = run(b.finish(), k);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].explanation, "tcp_tw_timeout"));
  EXPECT_DOUBLE_EQ(std::get<double>(ev(f[0], "block_seconds")), 20);
}

TEST(TimeWaitRule, BucketsNearlyFullIsCriticalAndNeverAdvisesLowering) {
  auto k = narrow();
  k.tcp_max_tw_buckets = 100;
  SnapshotBuilder b;
  b.process(80, "srv");
  b.owned(80, TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0");
  for (int i = 0; i < 95; ++i)
    b.time_wait("127.0.0.1:80", "127.0.0.1:" + std::to_string(50000 + i));
  auto f = run(b.finish(), k, "time_wait_buckets");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Critical);
  EXPECT_EQ(ev_int(f[0], "incoming"), 95);
  EXPECT_EQ(ev_int(f[0], "outgoing"), 0);
  EXPECT_TRUE(contains(f[0].explanation, "silently"));
  EXPECT_TRUE(any_contains(f[0].remedies, "Lowering tcp_max_tw_buckets is not a fix"));
}

TEST(TimeWaitRule, OverflowCounterAloneIsInfo) {
  auto k = narrow();
  k.tcp_max_tw_buckets = 100000;
  k.tcp_ext["TCPTimeWaitOverflow"] = 27360;
  SnapshotBuilder b;
  auto f = run(b.finish(), k, "time_wait_buckets");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Info);
  EXPECT_TRUE(contains(f[0].title, "27360"));
}

TEST(TimeWaitRule, OrphanedFinWait2BlocksTheTupleToo) {
  SnapshotBuilder b;
  storm(b, 100, "127.0.0.1", "127.0.0.1:8080");
  for (int i = 0; i < 85; ++i) {
    auto& s = b.add(TcpState::FinWait2, "127.0.0.1:" + std::to_string(40100 + i), "127.0.0.1:8080");
    s.timer = core::TimerKind::TimeWait;
    s.timer_remaining_ms = 30000;
  }
  auto f = run(b.finish(), narrow());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(ev_int(f[0], "fin_wait2_orphaned"), 85);
  EXPECT_EQ(ev_int(f[0], "blocked_ports"), 185);
}

TEST(TimeWaitRule, TimerSlackFollowsTheKernelsHz) {
  SnapshotBuilder b;
  storm(b, 190, "127.0.0.1", "127.0.0.1:8080");
  auto k = narrow();
  auto unknown = run(b.finish(), k);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_TRUE(contains(unknown[0].explanation, "HZ is unknown"));
  SnapshotBuilder b2;
  storm(b2, 190, "127.0.0.1", "127.0.0.1:8080");
  k.config_hz = 250;
  auto known = run(b2.finish(), k);
  ASSERT_EQ(known.size(), 1u);
  EXPECT_TRUE(contains(known[0].explanation, "up to 2 s at HZ=250"));
  EXPECT_FALSE(contains(known[0].explanation, "4 s of timer slack"));
}
