// sock_diag decoder: recorded fixtures (ours and ss -D), filters, malformed input, a live dump.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "collect/sock_diag.hpp"
#include "core/snapshot.hpp"

using namespace sockdoctor;
using collect::decode_sock_diag;
using collect::SockDiagRequest;
using core::Family;
using core::TcpSocket;
using core::TcpState;
using core::TimerKind;

namespace {

const std::string kNetlink = std::string(SOCKDOCTOR_FIXTURES) + "/netlink/";

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

std::vector<TcpSocket> decode_ok(std::span<const std::byte> data, SockDiagRequest f = {}) {
  std::vector<TcpSocket> out;
  auto r = decode_sock_diag(data, f, out);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return out;
}

// Every state bit, CLOSE included: what ss -a shows.
SockDiagRequest everything() {
  SockDiagRequest f;
  f.state_mask = ~0u;
  return f;
}

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

// --- building messages by hand ------------------------------------------------------------------

void put(std::vector<std::byte>& buf, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  buf.insert(buf.end(), b, b + n);
  while (buf.size() % 4)
    buf.push_back(std::byte{0});
}

void put_header(std::vector<std::byte>& buf,
                std::uint32_t len,
                std::uint16_t type,
                std::uint16_t flags = NLM_F_MULTI) {
  nlmsghdr h{};
  h.nlmsg_len = len;
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  put(buf, &h, sizeof h);
}

inet_diag_msg make_msg(std::uint8_t state, std::uint16_t sport, std::uint16_t dport) {
  inet_diag_msg m{};
  m.idiag_family = AF_INET;
  m.idiag_state = state;
  m.id.idiag_sport = htons(sport);
  m.id.idiag_dport = htons(dport);
  m.id.idiag_src[0] = htonl(0x7f000001);
  m.id.idiag_dst[0] = htonl(0x7f000002);
  m.idiag_inode = 4242;
  return m;
}

// One SOCK_DIAG_BY_FAMILY message, optionally with one attribute of `attr_len` payload bytes.
void put_diag(std::vector<std::byte>& buf,
              const inet_diag_msg& m,
              std::uint16_t attr_type = 0,
              const void* attr = nullptr,
              std::size_t attr_len = 0,
              std::uint16_t flags = 0) {
  const std::size_t attr_total = attr ? NLA_ALIGN(NLA_HDRLEN + attr_len) : 0;
  put_header(buf, static_cast<std::uint32_t>(NLMSG_HDRLEN + sizeof m + attr_total),
             SOCK_DIAG_BY_FAMILY, NLM_F_MULTI | flags);
  put(buf, &m, sizeof m);
  if (attr) {
    nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + attr_len), attr_type};
    put(buf, &a, sizeof a);
    put(buf, attr, attr_len);
  }
}

void put_done(std::vector<std::byte>& buf, int status = 0, std::uint16_t flags = NLM_F_MULTI) {
  put_header(buf, NLMSG_HDRLEN + sizeof status, NLMSG_DONE, flags);
  put(buf, &status, sizeof status);
}

std::vector<std::byte> one_socket_dump() {
  std::vector<std::byte> buf;
  put_diag(buf, make_msg(8, 5001, 40002));
  put_done(buf);
  return buf;
}

// Decoding must fail, leave `out` as it was, and name the problem.
void expect_error(std::span<const std::byte> data, const std::string& needle, int err = -1) {
  std::vector<TcpSocket> out(1);
  auto r = decode_sock_diag(data, SockDiagRequest{}, out);
  ASSERT_FALSE(r) << "expected an error containing '" << needle << "'";
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  if (err >= 0) {
    EXPECT_EQ(r.error().sys_errno, err);
  }
  EXPECT_EQ(out.size(), 1u);
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

// --- malformed input ---------------------------------------------------------------------------

TEST(SockDiagMalformed, HandBuiltDumpDecodes) {
  auto buf = one_socket_dump();
  auto v = decode_ok(buf);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].state, TcpState::CloseWait);
  EXPECT_EQ(core::to_string(v[0].local), "127.0.0.1:5001");
  EXPECT_EQ(core::to_string(v[0].peer), "127.0.0.2:40002");
  EXPECT_EQ(v[0].inode, 4242u);
  EXPECT_FALSE(v[0].has_info);
}

TEST(SockDiagMalformed, TruncatedMessage) {
  auto buf = read_file(kNetlink + "all_states.bin");
  buf.resize(buf.size() / 2 + 3);
  expect_error(buf, "sock_diag: message at offset");
}

TEST(SockDiagMalformed, NlmsgLenTooBigOrTooSmall) {
  auto buf = one_socket_dump();
  std::uint32_t len = static_cast<std::uint32_t>(buf.size()) + 100;
  std::memcpy(buf.data(), &len, 4);
  expect_error(buf, "overruns the data");
  len = 8;
  std::memcpy(buf.data(), &len, 4);
  expect_error(buf, "smaller than the netlink header");
}

TEST(SockDiagMalformed, ShortInetDiagMsg) {
  std::vector<std::byte> buf;
  std::byte payload[12]{};
  put_header(buf, NLMSG_HDRLEN + sizeof payload, SOCK_DIAG_BY_FAMILY);
  put(buf, payload, sizeof payload);
  put_done(buf);
  expect_error(buf, "inet_diag_msg needs");
}

TEST(SockDiagMalformed, NlmsgErrorCarriesErrno) {
  std::vector<std::byte> buf;
  nlmsgerr e{};
  e.error = -EPERM;
  put_header(buf, NLMSG_HDRLEN + sizeof e, NLMSG_ERROR, 0);
  put(buf, &e, sizeof e);
  expect_error(buf, "NLMSG_ERROR: Operation not permitted", EPERM);
}

TEST(SockDiagMalformed, DoneWithErrorStatus) {
  std::vector<std::byte> buf;
  put_diag(buf, make_msg(1, 1, 2));
  put_done(buf, -ENOMEM);
  expect_error(buf, "NLMSG_DONE carries error", ENOMEM);
}

// An error code is a negated errno; INT_MIN cannot be negated (UB) and a positive one is no
// errno: both are reported as EPROTO (a corrupt recording: the last byte of rec.bin set to 0x80).
TEST(SockDiagMalformed, ErrorCodesThatAreNoNegatedErrno) {
  for (const int code : {std::numeric_limits<int>::min(), 5, -4096}) {
    SCOPED_TRACE(code);
    std::vector<std::byte> buf;
    if (code < 0) { // DONE's status is an error only when negative
      put_diag(buf, make_msg(1, 1, 2));
      put_done(buf, code);
      expect_error(buf, "NLMSG_DONE carries error: Protocol error", EPROTO);
      buf.clear();
    }
    nlmsgerr e{};
    e.error = code;
    put_header(buf, NLMSG_HDRLEN + sizeof e, NLMSG_ERROR, 0);
    put(buf, &e, sizeof e);
    expect_error(buf, "NLMSG_ERROR: Protocol error", EPROTO);
  }
}

TEST(SockDiagMalformed, AttributeOverrunsItsMessage) {
  std::vector<std::byte> buf;
  std::uint8_t info[16]{};
  put_diag(buf, make_msg(1, 1, 2), INET_DIAG_INFO, info, sizeof info);
  put_done(buf);
  // Claim the attribute is longer than what is left of its message.
  const std::size_t attr_off = NLMSG_HDRLEN + sizeof(inet_diag_msg);
  std::uint16_t bad_len = 200;
  std::memcpy(buf.data() + attr_off, &bad_len, 2);
  expect_error(buf, "overruns its message");
  // And an attribute whose padding is there but whose length reaches into the next message.
  bad_len = NLA_HDRLEN + sizeof info + 2;
  std::memcpy(buf.data() + attr_off, &bad_len, 2);
  expect_error(buf, "overruns its message");
}

TEST(SockDiagMalformed, MissingDone) {
  auto buf = read_file(kNetlink + "all_states.bin");
  ASSERT_GT(buf.size(), 20u);
  buf.resize(buf.size() - 20); // the final NLMSG_DONE is 20 bytes
  expect_error(buf, "missing NLMSG_DONE");
  expect_error({}, "no netlink messages");
}

TEST(SockDiagMalformed, InterruptedDumpIsAnError) {
  std::vector<std::byte> buf;
  put_diag(buf, make_msg(1, 1, 2), 0, nullptr, 0, NLM_F_DUMP_INTR);
  put_done(buf);
  expect_error(buf, "NLM_F_DUMP_INTR", EINTR);
}

TEST(SockDiagMalformed, UnexpectedTypeAndFamily) {
  std::vector<std::byte> buf;
  put_header(buf, NLMSG_HDRLEN, 99);
  put_done(buf);
  expect_error(buf, "unexpected netlink message type 99");
  buf.clear();
  auto m = make_msg(1, 1, 2);
  m.idiag_family = AF_UNIX;
  put_diag(buf, m);
  put_done(buf);
  expect_error(buf, "unexpected address family");
}

TEST(SockDiagMalformed, EveryTruncationAndRandomCorruptionFailsCleanly) {
  const auto good = read_file(kNetlink + "all_states.bin");
  // Cutting anywhere but after a DONE must fail; after the v4 DONE it is a complete v4 dump.
  int ok_cuts = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::vector<TcpSocket> out;
    if (decode_sock_diag(std::span(good.data(), n), SockDiagRequest{}, out)) {
      ++ok_cuts;
      EXPECT_EQ(out.size(), 16u);
    } else {
      EXPECT_TRUE(out.empty());
    }
  }
  EXPECT_EQ(ok_cuts, 1);
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    auto bad = good;
    for (int k = 0; k < 4; ++k)
      bad[rng() % bad.size()] = static_cast<std::byte>(rng());
    std::vector<TcpSocket> out;
    (void)decode_sock_diag(bad, everything(), out); // any result, but no crash or overread
  }
}

TEST(SockDiagDecode, TcpInfoShorterOrLongerThanOurStruct) {
  // A short struct (old kernel) fills what it has and zeroes the rest.
  tcp_info ti{};
  ti.tcpi_retransmits = 3;
  ti.tcpi_probes = 2;
  ti.tcpi_backoff = 1;
  ti.tcpi_options = 7;
  ti.tcpi_rto = 204000;
  std::vector<std::byte> buf;
  put_diag(buf, make_msg(8, 1, 2), INET_DIAG_INFO, &ti, offsetof(tcp_info, tcpi_ato));
  std::vector<std::uint8_t> longer(sizeof ti + 64, 0);
  ti.tcpi_last_data_recv = 5000;
  ti.tcpi_last_ack_recv = 1000;
  ti.tcpi_rtt = 50;
  std::memcpy(longer.data(), &ti, sizeof ti);
  std::memset(longer.data() + sizeof ti, 0xAB, 64);
  put_diag(buf, make_msg(8, 3, 4), INET_DIAG_INFO, longer.data(), longer.size());
  put_done(buf);
  auto v = decode_ok(buf);
  ASSERT_EQ(v.size(), 2u);
  ASSERT_TRUE(v[0].has_info);
  EXPECT_EQ(v[0].info.retransmits, 3);
  EXPECT_EQ(v[0].info.probes, 2);
  EXPECT_EQ(v[0].info.backoff, 1);
  EXPECT_EQ(v[0].info.options, 7);
  EXPECT_EQ(v[0].info.rto_us, 204000u);
  EXPECT_EQ(v[0].info.last_data_recv_ms, 0u); // beyond the short struct
  ASSERT_TRUE(v[1].has_info);
  EXPECT_EQ(v[1].info.last_data_recv_ms, 5000u);
  EXPECT_EQ(v[1].info.last_ack_recv_ms, 1000u);
  EXPECT_EQ(v[1].info.rtt_us, 50u);
}

TEST(SockDiagDecode, MisalignedBufferAndMultipleDumps) {
  auto one = one_socket_dump();
  std::vector<std::byte> buf(1);
  buf.insert(buf.end(), one.begin(), one.end());
  buf.insert(buf.end(), one.begin(), one.end());
  auto v = decode_ok(std::span(buf).subspan(1));
  EXPECT_EQ(v.size(), 2u);
}

TEST(SockDiagDecode, TimerCookieAndQueues) {
  auto m = make_msg(5, 80, 81);
  m.idiag_timer = 3;
  m.idiag_expires = 1234;
  m.idiag_retrans = 2;
  m.idiag_rqueue = 7;
  m.idiag_wqueue = 9;
  m.idiag_uid = 1000;
  m.id.idiag_cookie[0] = 0x11223344;
  m.id.idiag_cookie[1] = 0x55667788;
  std::vector<std::byte> buf;
  put_diag(buf, m);
  put_done(buf);
  auto v = decode_ok(buf);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].timer, TimerKind::TimeWait);
  EXPECT_EQ(v[0].timer_remaining_ms, 1234u);
  EXPECT_EQ(v[0].retrans, 2);
  EXPECT_EQ(v[0].recv_q, 7u);
  EXPECT_EQ(v[0].send_q, 9u);
  EXPECT_EQ(v[0].uid, 1000u);
  EXPECT_EQ(v[0].cookie, 0x5566778811223344ull);
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

// --- live dump in a private network namespace ---------------------------------------------------

namespace {

struct LiveResult {
  std::string skip; // non-empty: could not set up
  std::string error;
  std::vector<TcpSocket> sockets;
  std::string record;
  collect::DumpStats stats;
  std::uint16_t port = 0;
};

bool loopback_up() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  ::close(fd);
  return ok;
}

void dump_into(LiveResult& res) {
  auto r = collect::dump_sock_diag(SockDiagRequest{}, res.sockets, &res.record);
  if (r)
    res.stats = *r;
  else
    res.error = r.error().message;
}

// Runs on its own thread, because network namespaces are per thread and the test process must
// stay put: a fresh netns holding one loopback listener and one connection to it, then `body`.
LiveResult in_private_netns(void (*body)(LiveResult&)) {
  LiveResult res;
  std::thread t([&res, body] {
    if (::unshare(CLONE_NEWNET) != 0) {
      res.skip = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    if (!loopback_up()) {
      res.skip = "cannot bring lo up in the new namespace";
      return;
    }
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || c < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(l, 4) != 0 || ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &alen) != 0 ||
        ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      res.skip = std::string("loopback socket setup: ") + std::strerror(errno);
    } else {
      res.port = ntohs(a.sin_port);
      body(res);
    }
    if (c >= 0) ::close(c);
    if (l >= 0) ::close(l);
  });
  t.join();
  return res;
}

// Fault injection. The collect library is linked statically into this binary, so its calls to
// libmnl's mnl_socket_recvfrom bind to this definition, which forwards to the real one.
namespace fault {
std::atomic<int> eintr{0};     // the next N receives fail with EINTR
std::atomic<int> enobufs{0};   // the next N receives fail with ENOBUFS
std::atomic<int> dump_intr{0}; // the next N replies get NLM_F_DUMP_INTR on their first message
void reset() {
  eintr = enobufs = dump_intr = 0;
}
bool take(std::atomic<int>& n) {
  int v = n.load();
  while (v > 0)
    if (n.compare_exchange_weak(v, v - 1)) return true;
  return false;
}
} // namespace fault

} // namespace

extern "C" ssize_t mnl_socket_recvfrom(const mnl_socket* nl, void* buf, size_t siz) {
  using Fn = ssize_t (*)(const mnl_socket*, void*, size_t);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "mnl_socket_recvfrom"));
  if (fault::take(fault::eintr)) {
    errno = EINTR;
    return -1;
  }
  if (fault::take(fault::enobufs)) {
    errno = ENOBUFS;
    return -1;
  }
  const ssize_t n = real(nl, buf, siz);
  if (n >= static_cast<ssize_t>(sizeof(nlmsghdr)) && fault::take(fault::dump_intr))
    static_cast<nlmsghdr*>(buf)->nlmsg_flags |= NLM_F_DUMP_INTR;
  return n;
}

TEST(SockDiagLive, DumpsOwnNamespace) {
  fault::reset();
  LiveResult res = in_private_netns(dump_into);
  if (!res.skip.empty()) GTEST_SKIP() << res.skip;
  ASSERT_TRUE(res.error.empty()) << res.error;
  // A listener, the client and the (unaccepted) server side; nothing else lives in the netns.
  EXPECT_EQ(res.sockets.size(), 3u);
  EXPECT_EQ(res.stats.messages, 3u);
  std::map<TcpState, int> states;
  for (const auto& s : res.sockets)
    ++states[s.state];
  EXPECT_EQ(states[TcpState::Listen], 1);
  EXPECT_EQ(states[TcpState::Established], 2);
  int with_listener_port = 0;
  for (const auto& s : res.sockets) {
    if (s.local.port == res.port || s.peer.port == res.port) ++with_listener_port;
    EXPECT_TRUE(s.has_info);
    EXPECT_NE(s.cookie, 0u);
  }
  EXPECT_EQ(with_listener_port, 3);
  // The record replays to the same sockets.
  std::vector<TcpSocket> replayed;
  auto r = decode_sock_diag(std::as_bytes(std::span(res.record.data(), res.record.size())),
                            SockDiagRequest{}, replayed);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(replayed.size(), res.sockets.size());
  for (std::size_t i = 0; i < replayed.size(); ++i) {
    EXPECT_EQ(replayed[i].cookie, res.sockets[i].cookie);
    EXPECT_EQ(replayed[i].state, res.sockets[i].state);
  }
}

TEST(SockDiagLive, InterruptedDumpIsRedoneAndOnlyTheGoodAttemptRecorded) {
  fault::reset();
  fault::dump_intr = 1;
  LiveResult res = in_private_netns(dump_into);
  if (!res.skip.empty()) GTEST_SKIP() << res.skip;
  ASSERT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(res.stats.retries, 1u);
  EXPECT_EQ(res.sockets.size(), 3u); // nothing kept from the discarded attempt
  std::vector<TcpSocket> replayed;
  auto r = decode_sock_diag(std::as_bytes(std::span(res.record.data(), res.record.size())),
                            SockDiagRequest{}, replayed);
  ASSERT_TRUE(r) << r.error().message; // the interrupted reply is not in the record
  EXPECT_EQ(replayed.size(), 3u);
}

TEST(SockDiagLive, EndlessInterruptionsGiveAnErrorNotAPartialList) {
  fault::reset();
  fault::dump_intr = 1000;
  LiveResult res = in_private_netns([](LiveResult& r) {
    r.sockets.resize(1);
    r.record = "keep";
    dump_into(r);
  });
  fault::reset();
  if (!res.skip.empty()) GTEST_SKIP() << res.skip;
  EXPECT_NE(res.error.find("sock_diag AF_INET: dump still interrupted"), std::string::npos)
      << res.error;
  EXPECT_EQ(res.sockets.size(), 1u);
  EXPECT_EQ(res.record, "keep");
}

TEST(SockDiagLive, EnobufsRedoesTheDumpAndEintrRetriesTheReceive) {
  fault::reset();
  fault::enobufs = 1;
  LiveResult res = in_private_netns(dump_into);
  if (!res.skip.empty()) GTEST_SKIP() << res.skip;
  ASSERT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(res.stats.retries, 1u);
  EXPECT_EQ(res.sockets.size(), 3u);

  fault::reset();
  fault::eintr = 3;
  res = in_private_netns(dump_into);
  ASSERT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(res.stats.retries, 0u);
  EXPECT_EQ(res.sockets.size(), 3u);
  EXPECT_EQ(fault::eintr.load(), 0);
}

// A socket bound to a device (idiag_if) is listed apart, with its cookie; the others are not, and
// a state the filter drops is not listed either.
TEST(SockDiagDecode, DeviceBoundSocketsAreListedApartByCookie) {
  std::vector<std::byte> buf;
  auto bound = make_msg(8, 1, 2);
  bound.id.idiag_if = 7;
  bound.id.idiag_cookie[0] = 0x11;
  bound.id.idiag_cookie[1] = 0x2;
  put_diag(buf, bound);
  put_diag(buf, make_msg(8, 3, 4));
  auto dropped = make_msg(1, 5, 6); // ESTABLISHED: filtered out below
  dropped.id.idiag_if = 9;
  put_diag(buf, dropped);
  put_done(buf);
  std::vector<TcpSocket> out;
  SockDiagRequest only_close_wait;
  only_close_wait.state_mask = sockdoctor::core::state_bit(sockdoctor::core::TcpState::CloseWait);
  auto r = decode_sock_diag(buf, only_close_wait, out);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(r->bound_devices.size(), 1u);
  EXPECT_EQ(r->bound_devices[0].cookie, 0x2'0000'0011u);
  EXPECT_EQ(r->bound_devices[0].ifindex, 7u);
  sockdoctor::core::Snapshot snap;
  snap.bound_devices = r->bound_devices;
  EXPECT_EQ(snap.bound_ifindex(out[0].cookie), 7u);
  EXPECT_EQ(snap.bound_ifindex(out[1].cookie), 0u);
}
