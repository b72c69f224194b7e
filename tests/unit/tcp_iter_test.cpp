// eBPF socket iterator (iter/tcp) records: the decoder on hand-made records, and a recorded pair
// (the iterator's output and a sock_diag dump of the same state farm, seconds apart) that must
// describe the same sockets field by field.
#include "collect/tcp_iter.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "collect/bpf/tcp_sockets.h"
#include "collect/sock_diag.hpp"

using namespace sockdoctor;
using core::TcpSocket;
using core::TcpState;
using core::TimerKind;

namespace {

const std::string kDir = std::string(SOCKDOCTOR_FIXTURES) + "/tcp_iter/";

std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

std::vector<std::byte> as_bytes(const std::vector<tcp_sockets_record>& recs) {
  std::vector<std::byte> out(recs.size() * sizeof(tcp_sockets_record));
  std::memcpy(out.data(), recs.data(), out.size());
  return out;
}

tcp_sockets_record full_v4(std::uint8_t state) {
  tcp_sockets_record r{};
  r.kind = TCP_SOCKETS_FULL;
  r.family = AF_INET;
  r.state = state;
  r.sport = 40001;
  r.dport = 5001;
  const std::uint32_t lo = htonl(INADDR_LOOPBACK);
  std::memcpy(r.saddr, &lo, 4);
  std::memcpy(r.daddr, &lo, 4);
  return r;
}

} // namespace

TEST(TcpIterDecode, FullSocketFieldsAndJiffies) {
  auto r = full_v4(8); // CLOSE_WAIT
  r.inode = 4242;
  r.uid = 1000;
  r.cookie = 0x1122334455667788ULL;
  r.cgroup_id = 77;
  r.recv_q = 1;
  r.send_q = 5;
  r.timer = 2;
  r.timer_left = 250; // 1 s at HZ=250
  r.recv_ago = 2500;  // 10 s
  r.ack_ago = 1250;   // 5 s
  r.sent_ago = 25;
  r.rto = 50; // 200 ms
  r.rtt_us = 30;
  r.options = 1;
  std::vector<TcpSocket> out;
  std::uint64_t skipped = 0;
  const auto bytes = as_bytes({r});
  EXPECT_EQ(collect::decode_tcp_socket_records(bytes, {250, true}, out, &skipped), bytes.size());
  ASSERT_EQ(out.size(), 1u);
  const TcpSocket& s = out[0];
  EXPECT_EQ(s.state, TcpState::CloseWait);
  EXPECT_EQ(s.local.port, 40001);
  EXPECT_EQ(s.peer.port, 5001);
  EXPECT_EQ(core::to_string(s.local), "127.0.0.1:40001");
  EXPECT_EQ(s.inode, 4242u);
  EXPECT_EQ(s.uid, 1000u);
  EXPECT_EQ(s.cookie, 0x1122334455667788ULL);
  EXPECT_EQ(s.cgroup_id, 77u);
  EXPECT_EQ(s.timer, TimerKind::Keepalive);
  EXPECT_EQ(s.timer_remaining_ms, 1000u);
  ASSERT_TRUE(s.has_info);
  EXPECT_EQ(s.info.last_data_recv_ms, 10000u);
  EXPECT_EQ(s.info.last_ack_recv_ms, 5000u);
  EXPECT_EQ(s.info.last_data_sent_ms, 100u);
  EXPECT_EQ(s.info.rto_us, 200000u);
  EXPECT_EQ(s.info.rtt_us, 30u);
  EXPECT_EQ(s.info.options, 1);
  EXPECT_EQ(skipped, 0u);

  // HZ=1000 and HZ=300 as the kernel's jiffies_to_msecs computes them.
  out.clear();
  collect::decode_tcp_socket_records(bytes, {1000, true}, out, nullptr);
  EXPECT_EQ(out[0].timer_remaining_ms, 250u);
  out.clear();
  collect::decode_tcp_socket_records(bytes, {300, true}, out, nullptr);
  EXPECT_EQ(out[0].timer_remaining_ms, 833u);
  // Without tcp_info asked, none is claimed.
  out.clear();
  collect::decode_tcp_socket_records(bytes, {250, false}, out, nullptr);
  EXPECT_FALSE(out[0].has_info);
}

TEST(TcpIterDecode, TimewaitRequestIpv6UnknownAndCut) {
  auto tw = full_v4(5); // a FIN_WAIT2 mini-socket reports tw_substate
  tw.kind = TCP_SOCKETS_TIMEWAIT;
  tw.timer = 3;
  tw.timer_left = 2500;
  auto req = full_v4(3);
  req.kind = TCP_SOCKETS_REQUEST;
  req.family = AF_INET6;
  std::memset(req.saddr, 0, 16);
  req.saddr[15] = 1; // ::1
  auto bogus = full_v4(1);
  bogus.kind = 9;
  auto bad_family = full_v4(1);
  bad_family.family = AF_UNIX;
  const auto bytes = as_bytes({tw, req, bogus, bad_family});
  std::vector<TcpSocket> out;
  std::uint64_t skipped = 0;
  // A read that ends inside the second record: only the first is consumed.
  const std::size_t cut = sizeof(tcp_sockets_record) + 40;
  EXPECT_EQ(
      collect::decode_tcp_socket_records(std::span(bytes).first(cut), {250, true}, out, &skipped),
      sizeof(tcp_sockets_record));
  EXPECT_EQ(collect::decode_tcp_socket_records(std::span(bytes).subspan(sizeof(tcp_sockets_record)),
                                               {250, true}, out, &skipped),
            3 * sizeof(tcp_sockets_record));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(skipped, 2u);
  EXPECT_EQ(out[0].state, TcpState::FinWait2);
  EXPECT_TRUE(core::is_fin_wait2_mini(out[0]));
  EXPECT_FALSE(out[0].has_info); // TIME_WAIT entries carry no tcp_info, as in sock_diag
  EXPECT_EQ(out[0].timer_remaining_ms, 10000u);
  EXPECT_EQ(out[1].state, TcpState::SynRecv);
  EXPECT_EQ(out[1].family(), core::Family::Ipv6);
  EXPECT_EQ(core::to_string(out[1].local.addr), "::1");
  EXPECT_FALSE(out[1].has_info);
}

// Recorded in one state farm (tests/integration/statefarm.py, Linux 6.18, HZ=250): the iterator's
// raw output and `--record` of a sock_diag dump a moment later. Every socket, state, queue, timer
// kind, owner inode, uid, cookie and cgroup must agree; times may differ by the gap between them.
TEST(TcpIterDecode, RecordedFarmEqualsSockDiag) {
  const auto raw = read_bytes(kDir + "statefarm_iter.bin");
  ASSERT_FALSE(raw.empty());
  ASSERT_EQ(raw.size() % sizeof(tcp_sockets_record), 0u);
  std::vector<TcpSocket> iter;
  std::uint64_t skipped = 0;
  ASSERT_EQ(collect::decode_tcp_socket_records(raw, {250, true}, iter, &skipped), raw.size());
  EXPECT_EQ(skipped, 0u);
  std::vector<TcpSocket> diag;
  ASSERT_TRUE(
      collect::replay_sock_diag(kDir + "statefarm_netlink.bin", collect::SockDiagRequest{}, diag));
  ASSERT_EQ(iter.size(), diag.size());

  using Key = std::tuple<std::string, std::string>;
  std::map<Key, const TcpSocket*> by_key;
  for (const auto& s : diag)
    by_key[{core::to_string(s.local), core::to_string(s.peer)}] = &s;
  std::map<TcpState, int> states;
  for (const auto& a : iter) {
    const std::string where = core::to_string(a.local) + " -> " + core::to_string(a.peer);
    auto it = by_key.find({core::to_string(a.local), core::to_string(a.peer)});
    ASSERT_NE(it, by_key.end()) << where << " listed by the iterator only";
    const TcpSocket& b = *it->second;
    ++states[a.state];
    EXPECT_EQ(a.state, b.state) << where;
    EXPECT_EQ(a.timer, b.timer) << where;
    EXPECT_EQ(a.inode, b.inode) << where;
    EXPECT_EQ(a.uid, b.uid) << where;
    EXPECT_EQ(a.cookie, b.cookie) << where;
    EXPECT_EQ(a.cgroup_id, b.cgroup_id) << where;
    EXPECT_EQ(a.recv_q, b.recv_q) << where;
    EXPECT_EQ(a.send_q, b.send_q) << where;
    EXPECT_EQ(a.has_info, b.has_info) << where;
    // The iterator reads the first five tcpi_options bits (tcp_sockets.bpf.c says why).
    EXPECT_EQ(a.info.options & 0x1f, b.info.options & 0x1f) << where;
    EXPECT_EQ(a.info.rto_us, b.info.rto_us) << where;
    EXPECT_EQ(a.info.rtt_us, b.info.rtt_us) << where;
    // Recorded within a second of each other: ages grow and timers shrink by at most that —
    // except where a retransmit or zero-window probe ran in between (its ACK restarts both).
    if (a.timer == TimerKind::Retransmit || a.timer == TimerKind::Probe0) continue;
    EXPECT_NEAR(a.info.last_data_recv_ms, b.info.last_data_recv_ms, 1000.0) << where;
    EXPECT_NEAR(a.info.last_ack_recv_ms, b.info.last_ack_recv_ms, 1000.0) << where;
    EXPECT_NEAR(a.timer_remaining_ms, b.timer_remaining_ms, 1000.0) << where;
  }
  // The farm's states: the comparison above is not vacuous.
  EXPECT_GE(states[TcpState::Listen], 1);
  EXPECT_GE(states[TcpState::Established], 1);
  EXPECT_GE(states[TcpState::CloseWait], 1);
  EXPECT_GE(states[TcpState::FinWait1], 1);
  EXPECT_GE(states[TcpState::FinWait2], 1);
  EXPECT_GE(states[TcpState::LastAck], 1);
  EXPECT_GE(states[TcpState::TimeWait], 1);
  EXPECT_GE(states[TcpState::SynSent], 1);
}
