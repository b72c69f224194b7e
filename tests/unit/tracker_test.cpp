// Cookie tracking: first-seen ages, per-state history, owners, and leak vs churn verdicts.
#include "analyze/tracker.hpp"

#include <gtest/gtest.h>

#include "top_scene.hpp"

namespace sockdoctor::analyze {
namespace {

using core::TcpState;
using testing::ep;
using testing::SceneBuilder;
using testing::SceneSocket;

Clock::time_point at(double seconds) {
  return testing::scene_epoch() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

class TrackerTest : public ::testing::Test {
protected:
  TrackerTest() {
    b.process(10, "leaker");
    b.process(20, "churner");
  }
  void feed(const std::vector<SceneSocket>& socks,
            double t,
            bool owners = true,
            std::uint32_t covered = core::kAllStatesMask) {
    const auto snap = b.snapshot(socks, at(t), owners);
    tracker.update(snap, covered, testing::count_of(snap));
  }
  static SceneSocket cw(std::uint64_t cookie, std::int32_t pid, std::uint8_t peer_host = 9) {
    return {cookie, TcpState::CloseWait, ep(10, 0, 0, 1, static_cast<std::uint16_t>(cookie)),
            ep(10, 0, 0, peer_host, 5432), pid};
  }
  SceneBuilder b;
  SocketTracker tracker;
};

TEST_F(TrackerTest, FirstSeenIsTheFirstSampleShowingTheState) {
  feed({cw(1, 10)}, 0);
  feed({cw(1, 10)}, 1);
  feed({cw(1, 10), cw(2, 10)}, 2);
  feed({cw(1, 10), cw(2, 10)}, 5);
  core::KernelSettings k;
  auto snap = b.snapshot({cw(1, 10), cw(2, 10)}, at(5));
  snap.sockets[0].has_info = snap.sockets[1].has_info = false; // ages from tracking alone
  const Age old = tracker.age(snap.sockets[0], k);
  const Age young = tracker.age(snap.sockets[1], k);
  ASSERT_TRUE(old.seconds && young.seconds);
  EXPECT_DOUBLE_EQ(*old.seconds, 5.0);
  EXPECT_EQ(old.basis, AgeBasis::FirstSeen);
  EXPECT_TRUE(old.lower_bound) << "there before the first sample: older than we know";
  EXPECT_DOUBLE_EQ(*young.seconds, 3.0);
  EXPECT_FALSE(young.lower_bound) << "appeared while watched: exact to one interval";
  EXPECT_EQ(tracker.first_seen(snap.sockets[1]), at(2));
}

TEST_F(TrackerTest, LastAckAgeSeenOnceIsCarriedForward) {
  auto s = cw(1, 10);
  s.last_ack_ms = 30000;
  feed({s}, 0);
  feed({s}, 4);
  auto snap = b.snapshot({s}, at(4));
  snap.sockets[0].has_info = false; // a light sample asks for no tcp_info
  const Age a = tracker.age(snap.sockets[0], {});
  ASSERT_TRUE(a.seconds);
  EXPECT_DOUBLE_EQ(*a.seconds, 34.0);
  EXPECT_EQ(a.basis, AgeBasis::LastAck);
  EXPECT_TRUE(a.lower_bound);
}

TEST_F(TrackerTest, StateChangeRestartsTheClockAndKeepsTheHolder) {
  SceneSocket s{7, TcpState::Established, ep(10, 0, 0, 1, 40000), ep(10, 0, 0, 7, 80), 10};
  feed({s}, 0);
  s.state = TcpState::TimeWait;
  s.pid = 0;
  s.timer_ms = 59000;
  feed({s}, 1);
  const auto snap = b.snapshot({s}, at(1));
  EXPECT_EQ(tracker.first_seen(snap.sockets[0]), at(1));
  EXPECT_EQ(tracker.owner(snap.sockets[0]), kNoOwner);
  EXPECT_EQ(tracker.last_holder(snap.sockets[0]), 10) << "the cookie survives into TIME_WAIT";
  const auto& h = tracker.history().back();
  EXPECT_EQ(h.appeared[static_cast<std::size_t>(TcpState::TimeWait)], 1u);
  EXPECT_EQ(h.departed[static_cast<std::size_t>(TcpState::Established)], 1u);
}

TEST_F(TrackerTest, GrowingSetWhoseOldSocketsStayIsALeak) {
  std::vector<SceneSocket> socks;
  for (int t = 0; t < 10; ++t) {
    socks.push_back(cw(100 + t, 10));
    feed(socks, t);
  }
  const auto procs = tracker.close_wait_by_process();
  ASSERT_EQ(procs.size(), 1u);
  EXPECT_EQ(procs[0].pid, 10);
  EXPECT_EQ(procs[0].comm, "leaker");
  const Trend& t = procs[0].trend;
  EXPECT_EQ(t.kind, TrendKind::Leak);
  EXPECT_EQ(t.count, 10u);
  EXPECT_NEAR(t.growth_per_min, 60.0, 1e-6);
  EXPECT_NEAR(t.retained, 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(t.departures_per_min, 0.0);
  EXPECT_EQ(tracker.close_wait().kind, TrendKind::Leak);
  const auto peers = tracker.close_wait_by_peer();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(core::to_string(peers[0].peer), "10.0.0.9");
  EXPECT_EQ(peers[0].trend.kind, TrendKind::Leak);
}

TEST_F(TrackerTest, SteadyCountWithTurnoverIsChurn) {
  for (int t = 0; t < 10; ++t) {
    std::vector<SceneSocket> socks;
    for (int k = 0; k < 5; ++k)
      socks.push_back(cw(1000 + t * 5 + k, 20)); // every socket lives one sample
    feed(socks, t);
  }
  const auto procs = tracker.close_wait_by_process();
  ASSERT_EQ(procs.size(), 1u);
  const Trend& t = procs[0].trend;
  EXPECT_EQ(t.kind, TrendKind::Churn);
  EXPECT_EQ(t.count, 5u);
  EXPECT_NEAR(t.growth_per_min, 0.0, 1e-6);
  EXPECT_NEAR(t.arrivals_per_min, 300.0, 1e-6); // 5 per second
  EXPECT_NEAR(t.departures_per_min, 300.0, 1e-6);
  EXPECT_DOUBLE_EQ(t.retained, 0.0);
}

TEST_F(TrackerTest, LeakInsideChurnIsStillNamedByRetention) {
  // Same count growth, but the old sockets leave: turnover, not a leak.
  for (int t = 0; t < 8; ++t) {
    std::vector<SceneSocket> socks;
    for (int k = 0; k <= t; ++k)
      socks.push_back(cw(5000 + t * 100 + k, 20));
    feed(socks, t);
  }
  EXPECT_EQ(tracker.close_wait_by_process()[0].trend.kind, TrendKind::Churn);
}

TEST_F(TrackerTest, StableDrainingAndWarmingUp) {
  feed({cw(1, 10), cw(2, 10), cw(3, 10)}, 0);
  EXPECT_EQ(tracker.close_wait().kind, TrendKind::WarmingUp);
  feed({cw(1, 10), cw(2, 10), cw(3, 10)}, 1);
  EXPECT_EQ(tracker.close_wait().kind, TrendKind::WarmingUp);
  for (int t = 2; t < 6; ++t)
    feed({cw(1, 10), cw(2, 10), cw(3, 10)}, t);
  EXPECT_EQ(tracker.close_wait().kind, TrendKind::Stable);
  feed({cw(1, 10), cw(2, 10)}, 6);
  feed({cw(1, 10)}, 7);
  EXPECT_EQ(tracker.close_wait().kind, TrendKind::Draining);
}

TEST_F(TrackerTest, WindowForgetsOldHistory) {
  TrackerOptions o;
  o.trend_window_seconds = 5;
  SocketTracker small(o);
  std::vector<SceneSocket> socks;
  for (int t = 0; t < 20; ++t) {
    if (t < 5) socks.push_back(cw(100 + t, 10)); // grew early, then stopped
    const auto snap = b.snapshot(socks, at(t));
    small.update(snap, core::kAllStatesMask, testing::count_of(snap));
  }
  EXPECT_EQ(small.close_wait().kind, TrendKind::Stable);
  EXPECT_LE(small.close_wait().window_seconds, 5.0);
}

TEST_F(TrackerTest, UncoveredStatesAreNotDepartures) {
  SceneSocket e{7, TcpState::Established, ep(10, 0, 0, 1, 40000), ep(10, 0, 0, 7, 80), 10};
  feed({e, cw(1, 10)}, 0);
  const std::uint32_t light = core::kAllStatesMask & ~core::state_bit(TcpState::Established);
  feed({cw(1, 10)}, 1, false, light); // ESTABLISHED not listed this time
  EXPECT_EQ(tracker.tracked(), 2u);
  EXPECT_EQ(tracker.history().back().departed[static_cast<std::size_t>(TcpState::Established)], 0u);
  feed({cw(1, 10)}, 2); // listed again, and gone
  EXPECT_EQ(tracker.tracked(), 1u);
  EXPECT_EQ(tracker.history().back().departed[static_cast<std::size_t>(TcpState::Established)], 1u);
}

TEST_F(TrackerTest, OwnersArePendingUntilAScanNamesThem) {
  feed({cw(1, 10)}, 0);
  feed({cw(1, 10), cw(2, 10)}, 1, /*owners=*/false);
  auto snap = b.snapshot({cw(1, 10), cw(2, 10)}, at(1), false);
  EXPECT_EQ(tracker.owner(snap.sockets[0]), 10) << "known from the earlier scan";
  EXPECT_EQ(tracker.owner(snap.sockets[1]), kOwnerPending);
  // A partial table naming only the leaker's sockets resolves the new one and keeps the rest.
  SceneBuilder only_leaker;
  only_leaker.process(10, "leaker");
  auto partial = only_leaker.snapshot({cw(1, 10), cw(2, 10)}, at(2));
  tracker.update(partial, core::kAllStatesMask, testing::count_of(partial), true);
  EXPECT_EQ(tracker.owner(snap.sockets[1]), 10);
  const auto procs = tracker.close_wait_by_process();
  ASSERT_FALSE(procs.empty());
  EXPECT_EQ(procs[0].pid, 10);
  EXPECT_EQ(procs[0].trend.count, 2u);
  EXPECT_EQ(tracker.owners_scanned_at(), at(0)) << "a partial scan is not a full one";
}

TEST_F(TrackerTest, HistoryAndRates) {
  for (int t = 0; t < 5; ++t) {
    std::vector<SceneSocket> socks;
    for (int k = 0; k < 2 * t; ++k)
      socks.push_back(cw(100 + k, 10));
    feed(socks, t);
  }
  ASSERT_EQ(tracker.history().size(), 5u);
  EXPECT_EQ(tracker.history().back().counts[static_cast<std::size_t>(TcpState::CloseWait)], 8u);
  EXPECT_DOUBLE_EQ(tracker.rate_per_second(TcpState::CloseWait, 10), 2.0);
  EXPECT_DOUBLE_EQ(tracker.rate_per_second(TcpState::CloseWait, 1), 2.0);
  EXPECT_DOUBLE_EQ(tracker.rate_per_second(TcpState::Established, 10), 0.0);
}

TEST(SocketIdentity, CookieOrFourTuple) {
  core::TcpSocket a;
  a.cookie = 42;
  EXPECT_EQ(socket_identity(a), 42u);
  core::TcpSocket p; // /proc/net/tcp: no cookie
  p.local = ep(127, 0, 0, 1, 80);
  p.peer = ep(127, 0, 0, 1, 40000);
  core::TcpSocket q = p;
  EXPECT_EQ(socket_identity(p), socket_identity(q));
  EXPECT_NE(socket_identity(p) >> 63, 0u);
  q.peer.port = 40001;
  EXPECT_NE(socket_identity(p), socket_identity(q));
}

} // namespace
} // namespace sockdoctor::analyze
