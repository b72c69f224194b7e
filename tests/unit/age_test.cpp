// Socket ages from timers and tcp_info: bases, bounds and edge cases.
#include <gtest/gtest.h>

#include "analyze/age.hpp"

using namespace sockdoctor;
using analyze::AgeBasis;
using analyze::estimate_age;
using core::TcpState;
using core::TimerKind;

namespace {

core::TcpSocket
make(TcpState state, TimerKind timer, std::uint32_t remaining_ms, std::uint32_t inode = 0) {
  core::TcpSocket s;
  s.state = state;
  s.timer = timer;
  s.timer_remaining_ms = remaining_ms;
  s.inode = inode;
  return s;
}

} // namespace

TEST(Age, BasisNames) {
  EXPECT_EQ(analyze::basis_name(AgeBasis::Unknown), "unknown");
  EXPECT_EQ(analyze::basis_name(AgeBasis::Timer), "timer");
  EXPECT_EQ(analyze::basis_name(AgeBasis::LastAck), "last_ack");
  EXPECT_EQ(analyze::basis_name(AgeBasis::FirstSeen), "first_seen");
  EXPECT_EQ(analyze::basis_name(AgeBasis::Traced), "traced");
}

TEST(Age, TimeWaitIsSixtySecondsMinusRemainingAndALowerBound) {
  core::KernelSettings k;
  auto a = estimate_age(make(TcpState::TimeWait, TimerKind::TimeWait, 45'500), k);
  ASSERT_TRUE(a.seconds);
  EXPECT_DOUBLE_EQ(*a.seconds, 14.5);
  EXPECT_EQ(a.basis, AgeBasis::Timer);
  EXPECT_TRUE(a.lower_bound);
}

TEST(Age, TimeWaitIgnoresTcpFinTimeout) {
  core::KernelSettings k;
  k.tcp_fin_timeout = 10; // a myth says this shortens TIME_WAIT: it does not
  auto a = estimate_age(make(TcpState::TimeWait, TimerKind::TimeWait, 50'000), k);
  EXPECT_DOUBLE_EQ(*a.seconds, 10.0);
}

TEST(Age, TimeWaitUsesAlibabaKnobWhenPresent) {
  core::KernelSettings k;
  k.tcp_tw_timeout = 30;
  auto a = estimate_age(make(TcpState::TimeWait, TimerKind::TimeWait, 20'000), k);
  EXPECT_DOUBLE_EQ(*a.seconds, 10.0);
}

TEST(Age, TimerLongerThanLengthClampsToZero) {
  core::KernelSettings k;
  auto a = estimate_age(make(TcpState::TimeWait, TimerKind::TimeWait, 61'000), k);
  ASSERT_TRUE(a.seconds);
  EXPECT_DOUBLE_EQ(*a.seconds, 0.0);
}

TEST(Age, TimeWaitExpiredTimerIsFullLength) {
  core::KernelSettings k;
  auto a = estimate_age(make(TcpState::TimeWait, TimerKind::TimeWait, 0), k);
  EXPECT_DOUBLE_EQ(*a.seconds, 60.0);
}

TEST(Age, OrphanedFinWait2UsesFinTimeout) {
  core::KernelSettings k;
  auto def = estimate_age(make(TcpState::FinWait2, TimerKind::TimeWait, 40'000), k);
  EXPECT_DOUBLE_EQ(*def.seconds, 20.0);
  EXPECT_EQ(def.basis, AgeBasis::Timer);
  EXPECT_FALSE(def.lower_bound);
  k.tcp_fin_timeout = 30;
  auto tuned = estimate_age(make(TcpState::FinWait2, TimerKind::TimeWait, 25'000), k);
  EXPECT_DOUBLE_EQ(*tuned.seconds, 5.0);
}

TEST(Age, OrphanedFinWait2IsAnEstimateTimeWaitIsNot) {
  // The mini-socket's timer may be 3.5 x RTO or TCP_LINGER2 instead of tcp_fin_timeout.
  core::KernelSettings k;
  EXPECT_TRUE(estimate_age(make(TcpState::FinWait2, TimerKind::TimeWait, 40'000), k).estimate);
  EXPECT_FALSE(estimate_age(make(TcpState::TimeWait, TimerKind::TimeWait, 40'000), k).estimate);
  auto cw = make(TcpState::CloseWait, TimerKind::Off, 0, 1234);
  cw.has_info = true;
  EXPECT_FALSE(estimate_age(cw, k).estimate);
}

TEST(Age, OrphanedFinWait2AboveSixtySecondsWasFirstAFullSocket) {
  core::KernelSettings k;
  k.tcp_fin_timeout = 100; // 40 s on the keepalive timer, then a 40 s mini-socket
  auto a = estimate_age(make(TcpState::FinWait2, TimerKind::TimeWait, 30'000), k);
  EXPECT_DOUBLE_EQ(*a.seconds, 50.0);
}

TEST(Age, CloseWaitUsesLastAckReceivedAsLowerBound) {
  core::KernelSettings k;
  auto s = make(TcpState::CloseWait, TimerKind::Off, 0, 1234);
  s.has_info = true;
  s.info.last_ack_recv_ms = 312'250;
  s.info.last_data_recv_ms = 900'000;
  auto a = estimate_age(s, k);
  ASSERT_TRUE(a.seconds);
  EXPECT_DOUBLE_EQ(*a.seconds, 312.25);
  EXPECT_EQ(a.basis, AgeBasis::LastAck);
  EXPECT_TRUE(a.lower_bound);
}

TEST(Age, CloseWaitWithoutTcpInfoIsUnknown) {
  core::KernelSettings k;
  auto a = estimate_age(make(TcpState::CloseWait, TimerKind::Off, 0, 1234), k);
  EXPECT_FALSE(a.seconds);
  EXPECT_EQ(a.basis, AgeBasis::Unknown);
}

TEST(Age, HeldFinWait2UsesLastAck) {
  core::KernelSettings k;
  auto s = make(TcpState::FinWait2, TimerKind::Off, 0, 99);
  s.has_info = true;
  s.info.last_ack_recv_ms = 7'000;
  auto a = estimate_age(s, k);
  EXPECT_EQ(a.basis, AgeBasis::LastAck);
  EXPECT_DOUBLE_EQ(*a.seconds, 7.0);
}

TEST(Age, OrphanedFullFinWait2OnKeepaliveTimerIsUnknown) {
  core::KernelSettings k;
  k.tcp_fin_timeout = 100;
  auto a = estimate_age(make(TcpState::FinWait2, TimerKind::Keepalive, 10'000, 0), k);
  EXPECT_FALSE(a.seconds);
}

TEST(Age, OtherStatesAreUnknown) {
  core::KernelSettings k;
  for (auto st : {TcpState::Established, TcpState::LastAck, TcpState::FinWait1, TcpState::Listen,
                  TcpState::SynSent}) {
    auto s = make(st, TimerKind::Retransmit, 1000, 5);
    s.has_info = true;
    s.info.last_ack_recv_ms = 5000;
    EXPECT_FALSE(estimate_age(s, k).seconds) << core::snake_name(st);
  }
}
