// The host model with a state register's entries: exact ages where the register saw the state
// begin, the closer of a TIME_WAIT, and the estimates of every other socket unchanged.
#include <gtest/gtest.h>

#include <memory>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/host_model.hpp"

namespace sockdoctor {
namespace {

using core::TcpState;
using test_support::SnapshotBuilder;

constexpr std::uint64_t kSecond = 1'000'000'000;

core::TracedSocket entry(TcpState state,
                         std::uint64_t entered_s,
                         std::int32_t pid = 0,
                         core::OwnerRole role = core::OwnerRole::Unknown) {
  core::TracedSocket e;
  e.state = state;
  e.entered_boot_ns = entered_s * kSecond;
  e.entered_exact = true;
  e.owner.pid = pid;
  e.owner.comm = pid ? "closer" : "";
  e.owner.role = role;
  return e;
}

struct Host {
  std::shared_ptr<core::Sample> sample = std::make_shared<core::Sample>();
  Host() {
    SnapshotBuilder b;
    b.process(100, "leaker");
    auto& cw = b.owned(100, TcpState::CloseWait, "10.0.0.1:8080", "10.0.0.9:40000");
    cw.cookie = 7;
    SnapshotBuilder::set_idle(cw, 3); // tcp_info says "at least 3 s"
    auto& old = b.owned(100, TcpState::CloseWait, "10.0.0.1:8080", "10.0.0.9:40001");
    old.cookie = 8; // older than the register: estimated
    SnapshotBuilder::set_idle(old, 90);
    auto& tw = b.time_wait("10.0.0.1:45000", "10.0.0.5:5432", 20);
    tw.cookie = 9;
    sample->snapshot = b.finish();
    sample->kernel = core::KernelSettings{};
    core::TracedView v;
    v.now_boot_ns = 1000 * kSecond;
    v.by_cookie[7] = entry(TcpState::CloseWait, 875); // 125 s in CLOSE_WAIT
    v.by_cookie[9] = entry(TcpState::TimeWait, 979, 4242, core::OwnerRole::Close);
    sample->traced = std::move(v);
  }
};

TEST(TracedKnowledge, ExactAgesWhereTheRegisterSawTheStateBegin) {
  Host h;
  const auto m = analyze::build_host_model(h.sample);
  EXPECT_EQ(m.ages[0].basis, analyze::AgeBasis::Traced);
  EXPECT_DOUBLE_EQ(*m.ages[0].seconds, 125.0);
  EXPECT_FALSE(m.ages[0].lower_bound) << "a traced age is exact";
  EXPECT_EQ(m.ages[1].basis, analyze::AgeBasis::LastAck) << "older than the register";
  EXPECT_TRUE(m.ages[1].lower_bound);
  EXPECT_EQ(m.ages[2].basis, analyze::AgeBasis::Traced);
  EXPECT_DOUBLE_EQ(*m.ages[2].seconds, 21.0);
}

TEST(TracedKnowledge, TimeWaitIsAttributedToTheProcessThatClosedIt) {
  Host h;
  const auto m = analyze::build_host_model(h.sample);
  ASSERT_EQ(m.time_wait.size(), 1u);
  EXPECT_EQ(m.time_wait[0].how, analyze::Attribution::Traced);
  EXPECT_EQ(m.time_wait[0].pid, 4242);
  EXPECT_EQ(m.time_wait[0].comm, "closer") << "known from the register though the process is gone";
}

TEST(TracedKnowledge, CheckSaysExactForTracedHoldersAndAtLeastOtherwise) {
  Host h;
  auto m = analyze::build_host_model(h.sample);
  ASSERT_FALSE(m.diagnosis.findings.empty());
  const auto& f = m.diagnosis.findings.front();
  EXPECT_EQ(f.id, "close_wait_leak");
  EXPECT_DOUBLE_EQ(*f.oldest_age_seconds, 125.0) << "the traced socket is the oldest";
  EXPECT_FALSE(f.oldest_age_lower_bound);
  EXPECT_NE(f.explanation.find("exact"), std::string::npos) << f.explanation;
  h.sample->traced.reset();
  m = analyze::build_host_model(h.sample);
  EXPECT_TRUE(m.diagnosis.findings.front().oldest_age_lower_bound) << "without the register";
}

TEST(TracedKnowledge, AnEntryForAnotherStateGivesNoAge) {
  Host h;
  h.sample->traced->by_cookie[7].state = TcpState::Established; // stale: the sample saw CLOSE_WAIT
  const auto m = analyze::build_host_model(h.sample);
  EXPECT_EQ(m.ages[0].basis, analyze::AgeBasis::LastAck);
}

// The register alone sees a FIN_WAIT2 mini-socket begin but not the FIN that makes it a
// TIME_WAIT: the timer gives a lower bound, the traced FIN_WAIT2 start an upper one.
TEST(TracedKnowledge, AMiniSocketsTimeWaitIsBoundedByItsTracedFinWait2) {
  Host h;
  auto& e = h.sample->traced->by_cookie[9];
  e.state = TcpState::FinWait2;
  e.mini_socket = true;
  e.entered_boot_ns = 950 * kSecond; // FIN_WAIT2 from 50 s ago; the timer says 20 s of TIME_WAIT
  auto m = analyze::build_host_model(h.sample);
  EXPECT_EQ(m.ages[2].basis, analyze::AgeBasis::Traced);
  EXPECT_DOUBLE_EQ(*m.ages[2].seconds, 20.0);
  EXPECT_TRUE(m.ages[2].lower_bound) << "a late ACK may have restarted the timer";
  EXPECT_EQ(m.time_wait[0].pid, 4242) << "the closer is still known";
  e.entered_boot_ns = 990 * kSecond; // FIN_WAIT2 began 10 s ago: TIME_WAIT cannot be older
  m = analyze::build_host_model(h.sample);
  EXPECT_DOUBLE_EQ(*m.ages[2].seconds, 10.0);
  EXPECT_FALSE(m.ages[2].lower_bound);
  e.mini_socket = false; // a full FIN_WAIT2 socket's entry says nothing of a TIME_WAIT
  m = analyze::build_host_model(h.sample);
  EXPECT_EQ(m.ages[2].basis, analyze::AgeBasis::Timer);
}

} // namespace
} // namespace sockdoctor
