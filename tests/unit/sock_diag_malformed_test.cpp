// sock_diag decoder on malformed and hand-built input: every truncation and corruption fails
// cleanly and names the problem; tcp_info of other sizes, timers, cookies, device-bound sockets.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

#include "collect/sock_diag.hpp"
#include "core/snapshot.hpp"
#include "sock_diag_messages.hpp"

using namespace sockdoctor;
using collect::decode_sock_diag;
using collect::SockDiagRequest;
using core::TcpSocket;
using core::TcpState;
using core::TimerKind;
using namespace sockdoctor::testing;

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
