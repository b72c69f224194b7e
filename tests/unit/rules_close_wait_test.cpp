// CLOSE_WAIT rule: grouping per process, Recv-Q meaning, keepalive, fd pressure, accept queues.
#include <gtest/gtest.h>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/diagnose.hpp"

using namespace sockdoctor;
using analyze::Finding;
using analyze::Severity;
using core::TcpState;
using test_support::SnapshotBuilder;

namespace {

std::vector<Finding>
run(const core::Snapshot& snap, analyze::DiagnoseOptions opt = {}, core::KernelSettings k = {}) {
  std::vector<Finding> out;
  for (auto& f : analyze::diagnose(snap, k, opt).findings)
    if (f.id.rfind("close_wait", 0) == 0) out.push_back(std::move(f));
  return out;
}

std::int64_t ev_int(const Finding& f, const char* key) {
  const auto* e = f.find(key);
  if (e == nullptr) return -1;
  return std::get<std::int64_t>(e->value);
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// Client 4242 holds n CLOSE_WAIT sockets toward 10.0.0.5:8080, idle `age` seconds.
void leak(SnapshotBuilder& b, int n, double age, std::uint32_t recv_q = 0, int first_port = 40000) {
  for (int i = 0; i < n; ++i) {
    auto& s = b.owned(4242, TcpState::CloseWait, "10.0.0.1:" + std::to_string(first_port + i),
                      "10.0.0.5:8080");
    s.recv_q = recv_q;
    SnapshotBuilder::set_idle(s, age + i, age + 100 + i);
  }
}

} // namespace

TEST(CloseWaitRule, OldSocketsOfOneProcessAreAWarningNamingIt) {
  SnapshotBuilder b;
  b.process(4242, "client");
  leak(b, 3, 300);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, "close_wait_leak");
  EXPECT_EQ(f[0].severity, Severity::Warning);
  ASSERT_TRUE(f[0].process);
  EXPECT_EQ(f[0].process->pid, 4242);
  EXPECT_EQ(f[0].process->comm, "client");
  EXPECT_EQ(f[0].count, 3u);
  ASSERT_TRUE(f[0].oldest_age_seconds);
  EXPECT_DOUBLE_EQ(*f[0].oldest_age_seconds, 302);
  EXPECT_EQ(f[0].peer, "10.0.0.5:8080");
  EXPECT_TRUE(contains(f[0].title, "pid 4242 (client)"));
  EXPECT_TRUE(contains(f[0].title, "3 CLOSE_WAIT"));
  EXPECT_EQ(ev_int(f[0], "recv_q_eof_read"), 3);
  EXPECT_EQ(ev_int(f[0], "outgoing"), 3);
  // No keepalive timer: no timer closes them and the sysctls do not apply, but the kernel still
  // ends CLOSE_WAIT on a RST, a retransmission timeout or ss -K (not "never").
  EXPECT_TRUE(contains(f[0].explanation, "None of them has a keepalive timer, so no timer will "
                                         "close them"));
  EXPECT_FALSE(contains(f[0].explanation, "the kernel will never close"));
  EXPECT_TRUE(contains(f[0].explanation, "RST from the peer"));
  EXPECT_TRUE(contains(f[0].explanation, "retransmission timeout"));
  // Recv-Q 0 does not prove recv() returned 0 (a coalesced FIN goes with the last data byte).
  EXPECT_TRUE(contains(f[0].explanation, "took the FIN along"));
  EXPECT_TRUE(contains(f[0].explanation, "SO_KEEPALIVE"));
  EXPECT_TRUE(contains(f[0].explanation, "never called close()"));
  EXPECT_TRUE(contains(f[0].explanation, "at most")); // last_data_recv upper bound
  EXPECT_FALSE(contains(f[0].explanation, "7875"));
  EXPECT_FALSE(f[0].remedies.empty());
  EXPECT_TRUE(contains(f[0].remedies.back(), "ss -K state close-wait dst 10.0.0.5:8080"));
}

TEST(CloseWaitRule, YoungSocketsAreNormalUntilMinAgeIsLowered) {
  SnapshotBuilder b;
  b.process(4242, "client");
  leak(b, 5, 5);
  auto snap = b.finish();
  EXPECT_TRUE(run(snap).empty());
  analyze::DiagnoseOptions opt;
  opt.min_age_seconds = 1;
  auto f = run(snap, opt);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].count, 5u);
}

TEST(CloseWaitRule, HundredSocketsInOneProcessAreCritical) {
  SnapshotBuilder b;
  b.process(4242, "client");
  leak(b, 100, 120);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Critical);
  SnapshotBuilder b2;
  b2.process(4242, "client");
  leak(b2, 99, 120);
  EXPECT_EQ(run(b2.finish())[0].severity, Severity::Warning);
}

TEST(CloseWaitRule, FdLimitNearlyReachedIsCritical) {
  SnapshotBuilder b;
  b.process(4242, "client", /*fd_count=*/850, /*fd_limit=*/1024);
  leak(b, 2, 120);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Critical);
  EXPECT_EQ(ev_int(f[0], "fd_count"), 850);
  EXPECT_EQ(ev_int(f[0], "fd_limit"), 1024);
  EXPECT_TRUE(contains(f[0].explanation, "EMFILE"));
}

TEST(CloseWaitRule, RecvQTellsHowFarTheApplicationGot) {
  SnapshotBuilder b;
  b.process(4242, "client");
  leak(b, 2, 120, /*recv_q=*/1, 40000);
  leak(b, 3, 120, /*recv_q=*/0, 41000);
  leak(b, 4, 120, /*recv_q=*/512, 42000);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(ev_int(f[0], "recv_q_eof_unread"), 2);
  EXPECT_EQ(ev_int(f[0], "recv_q_eof_read"), 3);
  EXPECT_EQ(ev_int(f[0], "recv_q_data_unread"), 4);
  EXPECT_TRUE(contains(f[0].explanation, "not even read the EOF"));
  EXPECT_TRUE(contains(f[0].explanation, "sends RST instead of FIN"));
}

TEST(CloseWaitRule, KeepaliveTimerEndsInCloseButTheFdStays) {
  SnapshotBuilder b;
  b.process(4242, "client");
  leak(b, 2, 120);
  auto snap = b.finish();
  for (auto& s : snap.sockets) {
    s.timer = core::TimerKind::Keepalive;
    s.timer_remaining_ms = 5000;
  }
  core::KernelSettings k;
  k.tcp_keepalive_time = 600;
  auto f = run(snap, {}, k);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(ev_int(f[0], "keepalive_timers"), 2);
  EXPECT_TRUE(contains(f[0].explanation, "after 600 s idle"));
  EXPECT_TRUE(contains(f[0].explanation, "fd stays open until close()"));
  EXPECT_TRUE(contains(f[0].explanation, "gives up after 1275 s")); // 600 + 9 x 75
  EXPECT_TRUE(contains(f[0].explanation, "never ends"));
  EXPECT_FALSE(contains(f[0].explanation, "will never close them"));
}

TEST(CloseWaitRule, UnacceptedConnectionsAreBlamedOnTheListener) {
  SnapshotBuilder b;
  b.process(77, "srv");
  auto& l = b.owned(77, TcpState::Listen, "127.0.0.1:8080", "0.0.0.0:0");
  l.recv_q = 3;
  l.send_q = 128;
  for (int i = 0; i < 3; ++i) {
    auto& s =
        b.add(TcpState::CloseWait, "127.0.0.1:8080", "127.0.0.1:" + std::to_string(50000 + i));
    s.recv_q = 1;
    SnapshotBuilder::set_idle(s, 90);
  }
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, "close_wait_unaccepted");
  ASSERT_TRUE(f[0].process);
  EXPECT_EQ(f[0].process->pid, 77);
  EXPECT_TRUE(contains(f[0].title, "has not accepted 3 connections on 127.0.0.1:8080"));
  EXPECT_TRUE(contains(f[0].explanation, "accept queue"));
  EXPECT_EQ(ev_int(f[0], "incoming"), 3);
}

TEST(CloseWaitRule, WildcardListenerOwnsChildrenOnAnyAddress) {
  SnapshotBuilder b;
  b.process(77, "srv");
  b.owned(77, TcpState::Listen, "0.0.0.0:8080", "0.0.0.0:0");
  auto& s = b.add(TcpState::CloseWait, "10.1.1.1:8080", "10.2.2.2:50000");
  SnapshotBuilder::set_idle(s, 90);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  ASSERT_TRUE(f[0].process);
  EXPECT_EQ(f[0].process->pid, 77);
}

TEST(CloseWaitRule, ServerSideLeakGroupsPeersByAddress) {
  SnapshotBuilder b;
  b.process(77, "srv");
  b.owned(77, TcpState::Listen, "0.0.0.0:8080", "0.0.0.0:0");
  for (int i = 0; i < 4; ++i) {
    auto& s = b.owned(77, TcpState::CloseWait, "10.1.1.1:8080",
                      "10.2.2." + std::to_string(i % 2) + ":" + std::to_string(50000 + i));
    SnapshotBuilder::set_idle(s, 90);
  }
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, "close_wait_leak");
  EXPECT_EQ(ev_int(f[0], "incoming"), 4);
  EXPECT_FALSE(f[0].peer); // two peers
  const auto& peers = std::get<std::vector<std::string>>(f[0].find("peers")->value);
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0], "10.2.2.0 (2)");
  EXPECT_TRUE(contains(f[0].explanation, "no ephemeral port is involved"));
}

TEST(CloseWaitRule, UnseenOwnerIsNamedByUid) {
  SnapshotBuilder b;
  auto& s = b.add(TcpState::CloseWait, "10.0.0.1:40000", "10.0.0.5:8080", /*inode=*/555);
  s.uid = 1000;
  SnapshotBuilder::set_idle(s, 90);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(f[0].process);
  EXPECT_TRUE(contains(f[0].title, "uid 1000"));
}

TEST(CloseWaitRule, SharedAfterForkNamesEveryHolder) {
  SnapshotBuilder b;
  b.process(10, "parent");
  b.process(11, "child");
  auto& s = b.owned(10, TcpState::CloseWait, "10.0.0.1:40000", "10.0.0.5:8080", /*also=*/11);
  SnapshotBuilder::set_idle(s, 90);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].process->pid, 10);
  const auto& also = std::get<std::vector<std::string>>(f[0].find("also_held_by")->value);
  ASSERT_EQ(also.size(), 1u);
  EXPECT_EQ(also[0], "pid 11 (child)");
  bool cloexec = false;
  for (const auto& r : f[0].remedies)
    cloexec = cloexec || contains(r, "SOCK_CLOEXEC");
  EXPECT_TRUE(cloexec);
}

TEST(CloseWaitRule, UnknownAgeIsOnlyInfo) {
  SnapshotBuilder b;
  b.process(4242, "client");
  b.owned(4242, TcpState::CloseWait, "10.0.0.1:40000", "10.0.0.5:8080"); // no tcp_info
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Info);
  EXPECT_FALSE(f[0].oldest_age_seconds);
  EXPECT_TRUE(contains(f[0].explanation, "age is unknown"));
}

TEST(CloseWaitRule, ProcessesAreSeparateFindings) {
  SnapshotBuilder b;
  b.process(1, "a");
  b.process(2, "b");
  SnapshotBuilder::set_idle(b.owned(1, TcpState::CloseWait, "10.0.0.1:40000", "10.0.0.5:80"), 90);
  SnapshotBuilder::set_idle(b.owned(2, TcpState::CloseWait, "10.0.0.1:40001", "10.0.0.5:80"), 90);
  SnapshotBuilder::set_idle(b.owned(2, TcpState::CloseWait, "10.0.0.1:40002", "10.0.0.5:80"), 95);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].process->pid, 2); // larger count first
  EXPECT_EQ(f[0].count, 2u);
}

TEST(CloseWaitRule, HealthySnapshotHasNoFinding) {
  SnapshotBuilder b;
  b.process(1, "a");
  b.owned(1, TcpState::Established, "10.0.0.1:40000", "10.0.0.5:80");
  EXPECT_TRUE(run(b.finish()).empty());
}

TEST(CloseWaitRule, FullAcceptQueueIsLeftToTheQueueRule) {
  SnapshotBuilder b;
  b.process(77, "srv");
  auto& l = b.owned(77, TcpState::Listen, "127.0.0.1:8080", "0.0.0.0:0");
  l.recv_q = 2;
  l.send_q = 1;
  SnapshotBuilder::set_idle(b.add(TcpState::CloseWait, "127.0.0.1:8080", "127.0.0.1:50000"), 90);
  EXPECT_TRUE(run(b.finish()).empty());
}

TEST(CloseWaitRule, SingleSocketReadsInTheSingular) {
  SnapshotBuilder b;
  b.process(4242, "client");
  leak(b, 1, 300);
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].title, "holds 1 CLOSE_WAIT socket:"));
  EXPECT_TRUE(contains(f[0].explanation, "It shows Recv-Q 0"));
  EXPECT_TRUE(contains(f[0].explanation, "It has no keepalive timer, so no timer will close it"));
  EXPECT_TRUE(contains(f[0].explanation, "It is outgoing"));
}

TEST(CloseWaitRule, OwnersNotLookedUpIsNotBlamedOnPrivileges) {
  SnapshotBuilder b;
  SnapshotBuilder::set_idle(b.add(TcpState::CloseWait, "10.0.0.1:40000", "10.0.0.5:8080", 555), 90);
  auto f = run(b.finish(/*scanned=*/false));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].title, "owners were not looked up"));
  EXPECT_TRUE(contains(f[0].remedies.back(), "without --no-owners"));
}

TEST(CloseWaitRule, SsKRemedySaysWhetherThisKernelCanDestroy) {
  for (const bool built : {true, false}) {
    SnapshotBuilder b;
    b.process(4242, "client");
    leak(b, 3, 300);
    core::KernelSettings k;
    k.config_inet_diag_destroy = built; // CONFIG_INET_DIAG_DESTROY from /proc/config.gz
    auto f = run(b.finish(), {}, k);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(contains(f[0].remedies.back(),
                         built ? "works on this kernel" : "does not work on this kernel"));
  }
}

TEST(CloseWaitRule, RetransmittingWritesEndOnATimeBudget) {
  SnapshotBuilder b;
  b.process(4242, "client");
  auto& s = b.owned(4242, TcpState::CloseWait, "10.0.0.1:40000", "10.0.0.5:8080");
  SnapshotBuilder::set_idle(s, 300, 400);
  s.timer = core::TimerKind::Probe0; // the peer's window is closed
  auto f = run(b.finish());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(contains(f[0].explanation, "after tcp_retries2 retries"));
  EXPECT_TRUE(contains(f[0].explanation, "tcp_retries2 budget (924.6 s (15 min) here)"));
  EXPECT_TRUE(contains(f[0].explanation, "zero-window probes is never given up on"));
}
