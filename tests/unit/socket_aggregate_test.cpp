// Sockets counted in the kernel (the socket iterator's summary mode) instead of listed: the same
// host described both ways — every socket listed, or ESTABLISHED-with-fd and TIME_WAIT sockets
// replaced by a synthetic aggregate built by the kernel program's rules — must give the same
// summary, TIME_WAIT table finding and port budgets; a budget the port rule examines asks for
// the records. And the decoder of the kernel's per-destination map entries.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>

#include <sys/socket.h>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/host_model.hpp"
#include "collect/bpf/tcp_sockets.h"
#include "collect/tcp_iter.hpp"

using namespace sockdoctor;
using core::TcpState;
using test_support::SnapshotBuilder;

namespace {

core::KernelSettings narrow() {
  core::KernelSettings k;
  k.kernel_major = 6;
  k.kernel_minor = 18;
  k.ip_local_port_range = core::PortRange{40000, 40199};
  k.ip_local_reserved_ports = {{40010, 40019}};
  k.tcp_tw_reuse = 0;
  k.tcp_max_tw_buckets = 20;
  return k;
}

// What tcp_sockets.bpf.c does in summary mode, written again over a listed snapshot: the
// reference the analysis of an aggregate is held to.
core::Sample split(const core::Snapshot& full, const core::KernelSettings& k) {
  core::Sample s;
  s.kernel = k;
  s.snapshot.owners = full.owners;
  core::SocketAggregate agg;
  agg.states = core::state_bit(TcpState::Established) | core::state_bit(TcpState::TimeWait);
  std::set<std::uint16_t> listening;
  for (const auto& sock : full.sockets)
    if (sock.state == TcpState::Listen) listening.insert(sock.local.port);
  const auto range = *k.ip_local_port_range;
  auto ephemeral = [&](std::uint16_t p) {
    for (auto [lo, hi] : k.ip_local_reserved_ports)
      if (p >= lo && p <= hi) return false;
    return p >= range.low && p <= range.high && !listening.contains(p);
  };
  for (const auto& sock : full.sockets) {
    const bool tw = sock.state == TcpState::TimeWait;
    if (!tw && !(sock.state == TcpState::Established && sock.inode != 0)) {
      s.snapshot.sockets.push_back(sock);
      continue;
    }
    ++agg.counts[static_cast<std::size_t>(sock.state)];
    if (ephemeral(sock.local.port)) {
      if (tw) ++agg.time_wait_outgoing;
      core::PortTupleCount* t = nullptr;
      for (auto& x : agg.tuples)
        if (x.source == sock.local.addr && x.destination == sock.peer) t = &x;
      if (t == nullptr) {
        t = &agg.tuples.emplace_back();
        t->source = sock.local.addr;
        t->destination = sock.peer;
      }
      ++(tw ? t->time_wait : t->live);
    } else if (tw && listening.contains(sock.local.port)) {
      ++agg.time_wait_incoming;
    }
  }
  s.aggregate = std::move(agg);
  return s;
}

analyze::HostModel model(core::Sample s) {
  analyze::HostModelOptions o;
  o.sections = false;
  o.workloads = false;
  return analyze::build_host_model(std::make_shared<const core::Sample>(std::move(s)), o);
}

analyze::HostModel listed(const core::Snapshot& snap, const core::KernelSettings& k) {
  core::Sample s;
  s.kernel = k;
  s.snapshot = snap;
  return model(std::move(s));
}

// A client of two services on ephemeral ports, a server with TIME_WAIT on its listening port
// (inside the range), CLOSE_WAIT and an unaccepted connection.
core::Snapshot host(int toward_9000) {
  SnapshotBuilder b;
  b.process(10, "client");
  b.process(20, "server");
  b.owned(20, TcpState::Listen, "127.0.0.1:40100", "0.0.0.0:0");
  for (int i = 0; i < toward_9000; ++i)
    b.time_wait("127.0.0.1:" + std::to_string(40020 + i), "127.0.0.1:9000");
  for (int i = 0; i < 5; ++i) {
    b.owned(10, TcpState::Established, "127.0.0.1:" + std::to_string(40150 + i), "127.0.0.1:9000");
    b.owned(10, TcpState::Established, "127.0.0.1:" + std::to_string(40160 + i), "10.0.0.1:443");
  }
  for (int i = 0; i < 6; ++i)
    b.time_wait("127.0.0.1:40100", "127.0.0.1:" + std::to_string(50000 + i));
  b.time_wait("127.0.0.1:40012", "127.0.0.1:9000"); // a reserved port: neither kind
  b.owned(20, TcpState::Established, "127.0.0.1:40100", "127.0.0.1:50100"); // listening port
  b.add(TcpState::Established, "127.0.0.1:40100", "127.0.0.1:50101");       // not yet accepted
  b.owned(20, TcpState::CloseWait, "127.0.0.1:40100", "127.0.0.1:50102");
  return b.finish();
}

const analyze::Finding* find(const analyze::HostModel& m, std::string_view id) {
  for (const auto& f : m.diagnosis.findings)
    if (f.id == id) return &f;
  return nullptr;
}

} // namespace

TEST(SocketAggregate, SummaryAndTimeWaitTableAsIfEverySocketWereListed) {
  const auto snap = host(20);
  const auto want = listed(snap, narrow());
  const auto got = model(split(snap, narrow()));
  ASSERT_TRUE(got.sample->aggregate);
  EXPECT_LT(got.snapshot().sockets.size(), snap.sockets.size());
  EXPECT_EQ(got.diagnosis.summary.total_sockets, want.diagnosis.summary.total_sockets);
  EXPECT_EQ(got.diagnosis.summary.per_state, want.diagnosis.summary.per_state);
  const auto* a = find(got, "time_wait_buckets");
  const auto* b = find(want, "time_wait_buckets");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->count, b->count);
  ASSERT_EQ(a->evidence.size(), b->evidence.size());
  for (std::size_t i = 0; i < a->evidence.size(); ++i) {
    EXPECT_EQ(a->evidence[i].key, b->evidence[i].key);
    EXPECT_EQ(a->evidence[i].value, b->evidence[i].value) << a->evidence[i].key;
  }
  ASSERT_EQ(got.diagnosis.findings.size(), want.diagnosis.findings.size());
  for (std::size_t i = 0; i < got.diagnosis.findings.size(); ++i)
    EXPECT_EQ(got.diagnosis.findings[i].id, want.diagnosis.findings[i].id);
  EXPECT_FALSE(got.needs_records);
}

TEST(SocketAggregate, PortBudgetsCountWhatTheListingWouldCount) {
  const auto snap = host(20);
  const auto want = listed(snap, narrow());
  const auto got = model(split(snap, narrow()));
  ASSERT_EQ(got.budgets.size(), want.budgets.size());
  for (std::size_t i = 0; i < got.budgets.size(); ++i) {
    const auto &x = got.budgets[i], &y = want.budgets[i];
    EXPECT_EQ(core::to_string(x.destination), core::to_string(y.destination));
    EXPECT_EQ(x.source, y.source);
    EXPECT_EQ(x.time_wait, y.time_wait);
    EXPECT_EQ(x.live, y.live);
    EXPECT_EQ(x.fin_wait2, y.fin_wait2);
    EXPECT_EQ(x.usable, y.usable);
  }
}

TEST(SocketAggregate, ABudgetOverTheWarningLineAsksForTheRecords) {
  const auto snap = host(120); // 120 TIME_WAIT + 5 open of 189 usable ports: 66%
  const auto got = model(split(snap, narrow()));
  EXPECT_TRUE(got.needs_records);
  EXPECT_TRUE(find(listed(snap, narrow()), "ephemeral_port_exhaustion"));
}

TEST(SocketAggregate, DecodesTheKernelsTupleEntries) {
  tcp_sockets_tuple_key k{};
  k.family = AF_INET;
  k.dport = 9000;
  const unsigned char src[4] = {127, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
  std::memcpy(k.saddr, src, 4);
  std::memcpy(k.daddr, dst, 4);
  tcp_sockets_tuple_value v{};
  v.live = 3;
  v.time_wait = 2;
  v.tw_left_min = 250; // 1 s at HZ 250
  v.tw_left_max = 500;
  core::PortTupleCount t;
  ASSERT_TRUE(collect::decode_port_tuple(std::as_bytes(std::span(&k, 1)),
                                         std::as_bytes(std::span(&v, 1)), 250, t));
  EXPECT_EQ(core::to_string(t.source), "127.0.0.1");
  EXPECT_EQ(core::to_string(t.destination), "10.0.0.2:9000");
  EXPECT_EQ(t.live, 3u);
  EXPECT_EQ(t.time_wait, 2u);
  EXPECT_EQ(t.time_wait_left_min_ms, 1000u);
  EXPECT_EQ(t.time_wait_left_max_ms, 2000u);
  k.family = 1; // AF_UNIX: not ours
  EXPECT_FALSE(collect::decode_port_tuple(std::as_bytes(std::span(&k, 1)),
                                          std::as_bytes(std::span(&v, 1)), 250, t));
  k.family = AF_INET6;
  EXPECT_FALSE(collect::decode_port_tuple(std::as_bytes(std::span(&k, 1)).first(10),
                                          std::as_bytes(std::span(&v, 1)), 250, t));
}
