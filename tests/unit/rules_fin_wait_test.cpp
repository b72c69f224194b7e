// FIN_WAIT2 rule: half-closed and held (unbounded) versus orphaned (bounded by tcp_fin_timeout).
#include <gtest/gtest.h>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/diagnose.hpp"

using namespace sockdoctor;
using analyze::Finding;
using analyze::Severity;
using core::TcpState;
using test_support::SnapshotBuilder;

namespace {

std::vector<Finding> run(const core::Snapshot& snap, const char* id, core::KernelSettings k = {}) {
  std::vector<Finding> out;
  for (auto& f : analyze::diagnose(snap, k).findings)
    if (f.id == id) out.push_back(std::move(f));
  return out;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

core::TcpSocket& orphan(SnapshotBuilder& b, const std::string& local, const std::string& peer) {
  auto& s = b.add(TcpState::FinWait2, local, peer);
  s.timer = core::TimerKind::TimeWait;
  s.timer_remaining_ms = 40000;
  return s;
}

} // namespace

TEST(FinWait2Rule, HalfClosedAndHeldIsUnboundedAndNamesTheHolder) {
  SnapshotBuilder b;
  b.process(300, "halfcloser");
  auto& s = b.owned(300, TcpState::FinWait2, "10.0.0.1:40000", "10.0.0.7:9000");
  SnapshotBuilder::set_idle(s, 400);
  core::KernelSettings k;
  k.tcp_fin_timeout = 30;
  auto f = run(b.finish(), "fin_wait2_half_closed", k);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Warning);
  ASSERT_TRUE(f[0].process);
  EXPECT_EQ(f[0].process->pid, 300);
  EXPECT_EQ(f[0].peer, "10.0.0.7:9000");
  EXPECT_DOUBLE_EQ(*f[0].oldest_age_seconds, 400);
  EXPECT_FALSE(std::get<bool>(f[0].find("bounded")->value));
  EXPECT_TRUE(contains(f[0].title, "no timeout"));
  EXPECT_TRUE(contains(f[0].explanation, "tcp_fin_timeout (30 s here) applies only to orphaned"));
  EXPECT_TRUE(contains(f[0].explanation, "has no timer"));
}

TEST(FinWait2Rule, BothEndsLocalNamesBothProcesses) {
  SnapshotBuilder b;
  b.process(300, "halfcloser");
  b.process(301, "sleepyserver");
  SnapshotBuilder::set_idle(b.owned(300, TcpState::FinWait2, "127.0.0.1:40000", "127.0.0.1:9000"),
                            120);
  b.owned(301, TcpState::CloseWait, "127.0.0.1:9000", "127.0.0.1:40000");
  auto f = run(b.finish(), "fin_wait2_half_closed");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].explanation, "pid 301 (sleepyserver) in CLOSE-WAIT"));
  const auto& holders = std::get<std::vector<std::string>>(f[0].find("local_peer_holders")->value);
  ASSERT_EQ(holders.size(), 1u);
  EXPECT_EQ(holders[0], "pid 301 (sleepyserver) in CLOSE-WAIT (1)");
}

TEST(FinWait2Rule, YoungHalfCloseIsNormal) {
  SnapshotBuilder b;
  b.process(300, "halfcloser");
  SnapshotBuilder::set_idle(b.owned(300, TcpState::FinWait2, "10.0.0.1:40000", "10.0.0.7:9000"), 2);
  EXPECT_TRUE(run(b.finish(), "fin_wait2_half_closed").empty());
}

TEST(FinWait2Rule, FewOrphansToARemotePeerAreNotReported) {
  SnapshotBuilder b;
  for (int i = 0; i < 5; ++i)
    orphan(b, "10.0.0.1:" + std::to_string(40000 + i), "10.0.0.7:9000");
  EXPECT_TRUE(run(b.finish(), "fin_wait2_orphaned").empty());
}

TEST(FinWait2Rule, ManyOrphansAreInfoAndBounded) {
  SnapshotBuilder b;
  for (int i = 0; i < 100; ++i)
    orphan(b, "10.0.0.1:" + std::to_string(40000 + i), "10.0.0.7:9000");
  core::KernelSettings k;
  k.tcp_fin_timeout = 30;
  auto f = run(b.finish(), "fin_wait2_orphaned", k);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Info);
  EXPECT_EQ(f[0].count, 100u);
  EXPECT_TRUE(std::get<bool>(f[0].find("bounded")->value));
  EXPECT_TRUE(contains(f[0].title, "about 30 s"));
  EXPECT_TRUE(contains(f[0].remedies.back(), "not TIME_WAIT"));
  ASSERT_TRUE(f[0].oldest_age_seconds);
  EXPECT_DOUBLE_EQ(*f[0].oldest_age_seconds, 0); // 30 s minus 40 s remaining: clamped
}

TEST(FinWait2Rule, OrphanWithALocalPeerNamesThePeer) {
  SnapshotBuilder b;
  b.process(301, "leaky");
  orphan(b, "127.0.0.1:40000", "127.0.0.1:9000");
  b.owned(301, TcpState::CloseWait, "127.0.0.1:9000", "127.0.0.1:40000");
  auto f = run(b.finish(), "fin_wait2_orphaned");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].explanation, "pid 301 (leaky) in CLOSE-WAIT"));
}

TEST(FinWait2Rule, ServerSideOrphansGroupByService) {
  SnapshotBuilder b;
  b.process(80, "srv");
  b.owned(80, TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0");
  for (int i = 0; i < 100; ++i)
    orphan(b, "10.0.0.1:80", "10.9.0." + std::to_string(i) + ":5000");
  auto f = run(b.finish(), "fin_wait2_orphaned");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].peer, "clients of 10.0.0.1:80");
}

TEST(FinWait2Rule, OrphanLifetimesAreEstimates) {
  SnapshotBuilder b;
  for (int i = 0; i < 100; ++i)
    orphan(b, "10.0.0.1:" + std::to_string(40000 + i), "10.0.0.7:9000");
  auto f = run(b.finish(), "fin_wait2_orphaned");
  ASSERT_EQ(f.size(), 1u);
  // The timer is max(tcp_fin_timeout, 3.5 x RTO) or TCP_LINGER2: an age is neither exact nor a
  // bound.
  EXPECT_TRUE(contains(f[0].explanation, "3.5 x RTO"));
  EXPECT_TRUE(contains(f[0].explanation, "estimates"));
  EXPECT_TRUE(contains(f[0].title, "after close()"));
}
