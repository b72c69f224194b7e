// sock_diag decoder on recorded fixtures (ours and ss -D): states, filters, replay, and its
// throughput. Malformed input: sock_diag_malformed_test.cpp; a live dump: sock_diag_live_test.cpp.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "collect/sock_diag.hpp"
#include "core/snapshot.hpp"
#include "sock_diag_messages.hpp"

using namespace sockdoctor;
using collect::decode_sock_diag;
using collect::SockDiagRequest;
using core::Family;
using core::TcpSocket;
using core::TcpState;
using core::TimerKind;
using namespace sockdoctor::testing;

namespace {

std::map<TcpState, int> count_states(const std::vector<TcpSocket>& v, Family fam) {
  std::map<TcpState, int> m;
  for (const auto& s : v)
    if (s.family() == fam) ++m[s.state];
  return m;
}

// What record_fixtures.py builds in each family.
const std::map<TcpState, int> kExpectedPerFamily = {
    {TcpState::Listen, 2},    {TcpState::SynSent, 1},  {TcpState::Established, 5},
    {TcpState::CloseWait, 2}, {TcpState::FinWait2, 3}, {TcpState::TimeWait, 1},
    {TcpState::FinWait1, 1},  {TcpState::LastAck, 1},
};

const TcpSocket*
find(const std::vector<TcpSocket>& v, Family fam, std::uint16_t lport, std::uint16_t pport) {
  for (const auto& s : v)
    if (s.family() == fam && s.local.port == lport && s.peer.port == pport) return &s;
  return nullptr;
}

} // namespace

// --- our own recording with tcp_info -----------------------------------------------------------

TEST(SockDiagFixture, PerStateCountsInBothFamilies) {
  auto data = read_file(kNetlink + "all_states.bin");
  ASSERT_FALSE(data.empty());
  std::vector<TcpSocket> out;
  auto r = decode_sock_diag(data, SockDiagRequest{}, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->messages, 32u);
  EXPECT_EQ(out.size(), 32u);
  EXPECT_EQ(count_states(out, Family::Ipv4), kExpectedPerFamily);
  EXPECT_EQ(count_states(out, Family::Ipv6), kExpectedPerFamily);
}

TEST(SockDiagFixture, ListenersAndEstablished) {
  auto v = decode_ok(read_file(kNetlink + "all_states.bin"));
  for (Family fam : {Family::Ipv4, Family::Ipv6}) {
    SCOPED_TRACE(fam == Family::Ipv4 ? "ipv4" : "ipv6");
    const auto* l = find(v, fam, 5001, 0);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->state, TcpState::Listen);
    EXPECT_EQ(l->send_q, 16u); // LISTEN: wqueue is the max backlog
    EXPECT_EQ(l->recv_q, 0u);
    EXPECT_TRUE(l->local.addr.is_loopback());
    EXPECT_TRUE(l->peer.addr.is_unspecified());
    EXPECT_NE(l->inode, 0u);
    EXPECT_TRUE(l->has_info);

    const auto* full = find(v, fam, 5002, 0); // listen(0) with one child queued
    ASSERT_NE(full, nullptr);
    EXPECT_EQ(full->recv_q, 1u);
    EXPECT_EQ(full->send_q, 0u);

    const auto* srv = find(v, fam, 5001, 40001);
    ASSERT_NE(srv, nullptr);
    EXPECT_EQ(srv->state, TcpState::Established);
    EXPECT_EQ(srv->recv_q, 100u);
    EXPECT_EQ(srv->send_q, 0u);
    EXPECT_NE(srv->inode, 0u);
    ASSERT_TRUE(srv->has_info);
    EXPECT_GE(srv->info.rto_us, 200000u); // TCP_RTO_MIN
    EXPECT_GT(srv->info.rtt_us, 0u);
    EXPECT_TRUE(srv->info.options & core::kTcpiOptTimestamps);

    const auto* child = find(v, fam, 5002, 40007); // completed but never accepted
    ASSERT_NE(child, nullptr);
    EXPECT_EQ(child->state, TcpState::Established);
    EXPECT_EQ(child->inode, 0u);
  }
  const auto* v4 = find(v, Family::Ipv4, 40001, 5001);
  ASSERT_NE(v4, nullptr);
  EXPECT_EQ(core::to_string(v4->local), "127.0.0.1:40001");
  EXPECT_EQ(core::to_string(v4->peer), "127.0.0.1:5001");
  const auto* v6 = find(v, Family::Ipv6, 40001, 5001);
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(core::to_string(v6->local), "[::1]:40001");
}

TEST(SockDiagFixture, ClosingStates) {
  auto v = decode_ok(read_file(kNetlink + "all_states.bin"));
  for (Family fam : {Family::Ipv4, Family::Ipv6}) {
    SCOPED_TRACE(fam == Family::Ipv4 ? "ipv4" : "ipv6");
    // CLOSE_WAIT after 7 bytes + FIN: the unread FIN counts one in the receive queue.
    const auto* cw = find(v, fam, 5001, 40002);
    ASSERT_NE(cw, nullptr);
    EXPECT_EQ(cw->state, TcpState::CloseWait);
    EXPECT_EQ(cw->recv_q, 8u);
    EXPECT_NE(cw->inode, 0u);
    EXPECT_TRUE(cw->has_info);
    EXPECT_EQ(find(v, fam, 5001, 40003)->recv_q, 1u);

    // Orphaned FIN_WAIT2 is a timewait mini-socket: timer 3, queues/uid/inode 0, no tcp_info.
    const auto* fw2 = find(v, fam, 40002, 5001);
    ASSERT_NE(fw2, nullptr);
    EXPECT_EQ(fw2->state, TcpState::FinWait2);
    EXPECT_EQ(fw2->timer, TimerKind::TimeWait);
    EXPECT_GT(fw2->timer_remaining_ms, 0u);
    EXPECT_LE(fw2->timer_remaining_ms, 60000u);
    EXPECT_EQ(fw2->inode, 0u);
    EXPECT_EQ(fw2->recv_q, 0u);
    EXPECT_FALSE(fw2->has_info);

    // Half-closed FIN_WAIT2 keeps its fd and has no timer at all.
    const auto* half = find(v, fam, 40003, 5001);
    ASSERT_NE(half, nullptr);
    EXPECT_EQ(half->state, TcpState::FinWait2);
    EXPECT_EQ(half->timer, TimerKind::Off);
    EXPECT_NE(half->inode, 0u);
    EXPECT_TRUE(half->has_info);

    const auto* tw = find(v, fam, 40004, 5001);
    ASSERT_NE(tw, nullptr);
    EXPECT_EQ(tw->state, TcpState::TimeWait);
    EXPECT_EQ(tw->timer, TimerKind::TimeWait);
    EXPECT_LE(tw->timer_remaining_ms, 60000u);
    EXPECT_EQ(tw->inode, 0u);
    EXPECT_EQ(tw->uid, 0u);
    EXPECT_FALSE(tw->has_info);

    // FIN queued behind data the peer does not read: orphans with a non-empty send queue.
    const auto* fw1 = find(v, fam, 40005, 5001);
    ASSERT_NE(fw1, nullptr);
    EXPECT_EQ(fw1->state, TcpState::FinWait1);
    EXPECT_GT(fw1->send_q, 0u);
    EXPECT_EQ(fw1->inode, 0u);
    EXPECT_GT(find(v, fam, 5001, 40005)->recv_q, 0u);
    const auto* la = find(v, fam, 5001, 40006);
    ASSERT_NE(la, nullptr);
    EXPECT_EQ(la->state, TcpState::LastAck);
    EXPECT_GT(la->send_q, 0u);
    EXPECT_EQ(la->recv_q, 1u);
    EXPECT_EQ(la->inode, 0u);

    const auto* syn = find(v, fam, 40008, 5002);
    ASSERT_NE(syn, nullptr);
    EXPECT_EQ(syn->state, TcpState::SynSent);
    EXPECT_EQ(syn->timer, TimerKind::Retransmit);
    EXPECT_GT(syn->timer_remaining_ms, 0u);
  }
}

TEST(SockDiagFixture, CookiesAreUniqueAndSet) {
  auto v = decode_ok(read_file(kNetlink + "all_states.bin"));
  std::vector<std::uint64_t> cookies;
  for (const auto& s : v)
    cookies.push_back(s.cookie);
  std::sort(cookies.begin(), cookies.end());
  EXPECT_EQ(std::adjacent_find(cookies.begin(), cookies.end()), cookies.end());
  EXPECT_NE(cookies.front(), 0u);
}

TEST(SockDiagFixture, StateAndFamilyFiltersApplyOnReplay) {
  auto data = read_file(kNetlink + "all_states.bin");
  SockDiagRequest f;
  f.state_mask = core::state_bit(TcpState::CloseWait);
  auto v = decode_ok(data, f);
  EXPECT_EQ(v.size(), 4u);
  for (const auto& s : v)
    EXPECT_EQ(s.state, TcpState::CloseWait);

  f.state_mask = core::state_bit(TcpState::TimeWait) | core::state_bit(TcpState::FinWait2);
  f.ipv4 = false;
  v = decode_ok(data, f);
  EXPECT_EQ(v.size(), 4u);
  for (const auto& s : v)
    EXPECT_EQ(s.family(), Family::Ipv6);

  f = SockDiagRequest{};
  f.ipv6 = false;
  std::vector<TcpSocket> out;
  auto r = decode_sock_diag(data, f, out);
  ASSERT_TRUE(r);
  EXPECT_EQ(out.size(), 16u);
  EXPECT_EQ(r->messages, 32u); // counted before filtering
}

TEST(SockDiagFixture, ReplayFromFile) {
  std::vector<TcpSocket> out;
  auto r = collect::replay_sock_diag(kNetlink + "all_states.bin", SockDiagRequest{}, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(out.size(), 32u);
  auto missing = collect::replay_sock_diag(kNetlink + "no-such-file.bin", SockDiagRequest{}, out);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no-such-file.bin"), std::string::npos);
  EXPECT_EQ(out.size(), 32u);
}

// A recording cut right after the IPv4 dump's NLMSG_DONE is still well-formed netlink, but it
// lacks the IPv6 half: replaying it as a full recording must fail, not yield an IPv4-only list.
TEST(SockDiagFixture, ReplayOfOneDumpNeedsTheMatchingFamilyFlag) {
  std::ifstream in(kNetlink + "all_states.bin", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t off = 0, first_done_end = 0;
  while (off + sizeof(nlmsghdr) <= all.size()) {
    nlmsghdr h;
    std::memcpy(&h, all.data() + off, sizeof h);
    off += NLMSG_ALIGN(h.nlmsg_len);
    if (h.nlmsg_type == NLMSG_DONE) {
      first_done_end = off;
      break;
    }
  }
  ASSERT_GT(first_done_end, 0u);
  ASSERT_LT(first_done_end, all.size());
  const std::string path = ::testing::TempDir() + "sd_first_dump_only.bin";
  std::ofstream(path, std::ios::binary) << all.substr(0, first_done_end);

  std::vector<TcpSocket> out;
  auto full = collect::replay_sock_diag(path, SockDiagRequest{}, out);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("truncated"), std::string::npos) << full.error().message;
  EXPECT_TRUE(out.empty());

  SockDiagRequest v4_only;
  v4_only.ipv6 = false;
  auto v4 = collect::replay_sock_diag(path, v4_only, out);
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_EQ(out.size(), 16u);
  std::remove(path.c_str());
}

// --- ss -D file against ss's own text output ----------------------------------------------------

namespace {

struct SsRow {
  std::string state, local, peer;
  std::uint32_t recv_q, send_q;
  auto operator<=>(const SsRow&) const = default;
};

// ss -n prints port 0 as "*" and IPv6 in brackets.
std::string ss_endpoint(const core::Endpoint& e) {
  std::string a = core::to_string(e.addr);
  if (e.addr.family == Family::Ipv6) a = "[" + a + "]";
  return a + ":" + (e.port == 0 ? std::string("*") : std::to_string(e.port));
}

std::vector<SsRow> parse_ss_text(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line); // header
  std::vector<SsRow> rows;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    SsRow r;
    if (ls >> r.state >> r.recv_q >> r.send_q >> r.local >> r.peer) rows.push_back(r);
  }
  return rows;
}

} // namespace

TEST(SockDiagSsFile, DecodesLikeSsPrintsIt) {
  auto v = decode_ok(read_file(kNetlink + "ss_all_states.bin"), everything());
  auto expected = parse_ss_text(kNetlink + "ss_all_states.txt");
  ASSERT_EQ(expected.size(), 32u);
  std::vector<SsRow> got;
  for (const auto& s : v) {
    got.push_back({std::string(core::ss_name(s.state)), ss_endpoint(s.local), ss_endpoint(s.peer),
                   s.recv_q, s.send_q});
    EXPECT_FALSE(s.has_info); // ss -tan does not ask for INET_DIAG_INFO
  }
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(got, expected);
}

TEST(SockDiagSsFile, SameSocketsAsOurRecording) {
  auto ours = decode_ok(read_file(kNetlink + "all_states.bin"));
  auto theirs = decode_ok(read_file(kNetlink + "ss_all_states.bin"));
  ASSERT_EQ(ours.size(), theirs.size());
  for (const auto& s : theirs) {
    const auto* o = find(ours, s.family(), s.local.port, s.peer.port);
    ASSERT_NE(o, nullptr) << core::to_string(s.local);
    EXPECT_EQ(o->state, s.state);
    EXPECT_EQ(o->inode, s.inode);
  }
}

// --- throughput --------------------------------------------------------------------------------

TEST(SockDiagDecode, Throughput) {
  // A real ESTABLISHED message with tcp_info, repeated N times with distinct ports.
  const auto fixture = read_file(kNetlink + "all_states.bin");
  std::vector<std::byte> proto;
  for (std::size_t off = 0; off + NLMSG_HDRLEN <= fixture.size();) {
    nlmsghdr h;
    std::memcpy(&h, fixture.data() + off, sizeof h);
    inet_diag_msg m;
    std::memcpy(&m, fixture.data() + off + NLMSG_HDRLEN, sizeof m);
    if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY && m.idiag_state == 1 && h.nlmsg_len > 200) {
      proto.assign(fixture.begin() + static_cast<std::ptrdiff_t>(off),
                   fixture.begin() + static_cast<std::ptrdiff_t>(off + NLMSG_ALIGN(h.nlmsg_len)));
      break;
    }
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  ASSERT_FALSE(proto.empty());
  std::size_t n = 200000;
  if (const char* env = std::getenv("SOCKDOCTOR_DECODE_BENCH_SOCKETS"))
    n = std::strtoul(env, nullptr, 10);
  std::vector<std::byte> buf;
  buf.reserve(proto.size() * n + 64);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = buf.size();
    buf.insert(buf.end(), proto.begin(), proto.end());
    const std::uint16_t port = htons(static_cast<std::uint16_t>(i));
    std::memcpy(buf.data() + at + NLMSG_HDRLEN + offsetof(inet_diag_msg, id.idiag_sport), &port, 2);
  }
  put_done(buf);
  std::vector<TcpSocket> out;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = decode_sock_diag(buf, SockDiagRequest{}, out);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(out.size(), n);
  EXPECT_TRUE(out.back().has_info);
  std::printf("decode: %zu sockets (%zu bytes each) in %.3f s = %.2f M sockets/s\n", n,
              proto.size(), secs, static_cast<double>(n) / secs / 1e6);
  RecordProperty("sockets_per_second", static_cast<int>(static_cast<double>(n) / secs));
}
