// SOCK_DESTROY requests and replies: byte layout against the kernel ABI, reply decoding (ACKs,
// errors, lookups, garbage), and the outcome rules (pre-check, ENOENT = gone or stale).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "collect/sock_destroy.hpp"

using namespace sockdoctor;
using collect::DestroyOutcome;
using collect::LookupHit;
using core::TcpState;

namespace {

collect::SocketId v4_id() {
  collect::SocketId id;
  id.local.addr = *core::parse_address("127.0.0.1");
  id.local.port = 53456;
  id.peer.addr = *core::parse_address("127.0.0.2");
  id.peer.port = 8080;
  id.cookie = 0x0000000100000002ull;
  return id;
}

struct Request {
  nlmsghdr h;
  inet_diag_req_v2 r;
};

Request decode_request(const std::array<std::byte, collect::kDiagRequestBytes>& buf) {
  Request q{};
  std::memcpy(&q.h, buf.data(), sizeof q.h);
  std::memcpy(&q.r, buf.data() + NLMSG_HDRLEN, sizeof q.r);
  return q;
}

std::vector<std::byte> ack(std::uint32_t seq, int error) {
  std::vector<std::byte> out(NLMSG_LENGTH(sizeof(nlmsgerr)));
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(out.size());
  h.nlmsg_type = NLMSG_ERROR;
  h.nlmsg_seq = seq;
  nlmsgerr e{};
  e.error = error;
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + NLMSG_HDRLEN, &e, sizeof e);
  return out;
}

std::vector<std::byte> diag_msg(std::uint32_t seq, std::uint8_t state, std::uint64_t cookie) {
  std::vector<std::byte> out(NLMSG_LENGTH(sizeof(inet_diag_msg)));
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(out.size());
  h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  h.nlmsg_seq = seq;
  inet_diag_msg m{};
  m.idiag_family = AF_INET;
  m.idiag_state = state;
  m.id.idiag_cookie[0] = static_cast<std::uint32_t>(cookie);
  m.id.idiag_cookie[1] = static_cast<std::uint32_t>(cookie >> 32);
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + NLMSG_HDRLEN, &m, sizeof m);
  return out;
}

} // namespace

TEST(SockDestroy, DestroyRequestLayout) {
  std::array<std::byte, collect::kDiagRequestBytes> buf{};
  ASSERT_EQ(collect::encode_destroy_request(buf, v4_id(), 77), buf.size());
  const auto q = decode_request(buf);
  EXPECT_EQ(q.h.nlmsg_len, buf.size());
  EXPECT_EQ(q.h.nlmsg_type, SOCK_DESTROY);
  EXPECT_EQ(q.h.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(q.h.nlmsg_seq, 77u);
  EXPECT_EQ(q.r.sdiag_family, AF_INET);
  EXPECT_EQ(q.r.sdiag_protocol, IPPROTO_TCP);
  EXPECT_EQ(q.r.id.idiag_sport, htons(53456));
  EXPECT_EQ(q.r.id.idiag_dport, htons(8080));
  EXPECT_EQ(q.r.id.idiag_src[0], inet_addr("127.0.0.1"));
  EXPECT_EQ(q.r.id.idiag_dst[0], inet_addr("127.0.0.2"));
  EXPECT_EQ(q.r.id.idiag_src[1], 0u); // IPv4 uses the first word only
  EXPECT_EQ(q.r.id.idiag_if, 0u);
  // The cookie goes as two host-order halves, low word first (sock_diag_check_cookie).
  EXPECT_EQ(q.r.id.idiag_cookie[0], 2u);
  EXPECT_EQ(q.r.id.idiag_cookie[1], 1u);
}

TEST(SockDestroy, LookupRequestWithoutCookie) {
  auto id = v4_id();
  id.local.addr = *core::parse_address("::1");
  id.peer.addr = *core::parse_address("::1");
  std::array<std::byte, collect::kDiagRequestBytes> buf{};
  collect::encode_lookup_request(buf, id, false, 5);
  const auto q = decode_request(buf);
  EXPECT_EQ(q.h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  EXPECT_EQ(q.h.nlmsg_flags, NLM_F_REQUEST); // no NLM_F_DUMP: one socket, by 4-tuple
  EXPECT_EQ(q.r.sdiag_family, AF_INET6);
  EXPECT_EQ(q.r.id.idiag_cookie[0], INET_DIAG_NOCOOKIE);
  EXPECT_EQ(q.r.id.idiag_cookie[1], INET_DIAG_NOCOOKIE);
  EXPECT_EQ(reinterpret_cast<const unsigned char*>(q.r.id.idiag_src)[15], 1);
  collect::encode_lookup_request(buf, id, true, 6);
  EXPECT_EQ(decode_request(buf).r.id.idiag_cookie[0], 2u);
}

TEST(SockDestroy, DecodeAck) {
  EXPECT_EQ(collect::decode_ack(ack(9, 0), 9), 0);
  EXPECT_EQ(collect::decode_ack(ack(9, -ENOENT), 9), ENOENT);
  EXPECT_EQ(collect::decode_ack(ack(9, -EPERM), 9), EPERM);
  EXPECT_EQ(collect::decode_ack(ack(9, -EOPNOTSUPP), 9), EOPNOTSUPP);
  EXPECT_EQ(collect::decode_ack(ack(9, 5), 9), EPROTO);         // positive: corrupt
  EXPECT_EQ(collect::decode_ack(ack(9, INT32_MIN), 9), EPROTO); // would overflow on negation
  EXPECT_FALSE(collect::decode_ack(ack(9, 0), 10));             // another request's answer
  auto short_reply = ack(9, 0);
  short_reply.resize(sizeof(nlmsghdr) + 2);
  EXPECT_FALSE(collect::decode_ack(short_reply, 9)); // never read as success
  EXPECT_FALSE(collect::decode_ack({}, 9));
  EXPECT_FALSE(collect::decode_ack(diag_msg(9, 8, 1), 9)); // not an ACK
}

TEST(SockDestroy, DecodeLookup) {
  auto hit = collect::decode_lookup_reply(diag_msg(3, 8, 0x1234567890ull), 3);
  ASSERT_TRUE(hit && *hit);
  EXPECT_EQ((*hit)->cookie, 0x1234567890ull);
  EXPECT_EQ((*hit)->state, TcpState::CloseWait);
  auto req = collect::decode_lookup_reply(diag_msg(3, 12, 1), 3); // TCP_NEW_SYN_RECV
  ASSERT_TRUE(req && *req);
  EXPECT_EQ((*req)->state, TcpState::SynRecv);
  auto none = collect::decode_lookup_reply(ack(3, -ENOENT), 3);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_FALSE(collect::decode_lookup_reply(ack(3, -EPERM), 3));
  auto truncated = diag_msg(3, 8, 1);
  truncated.resize(truncated.size() - 4);
  EXPECT_FALSE(collect::decode_lookup_reply(truncated, 3));
}

TEST(SockDestroy, PrecheckOutcome) {
  const std::uint32_t cw = core::state_bit(TcpState::CloseWait);
  EXPECT_EQ(collect::precheck_outcome(std::nullopt, 7, cw), DestroyOutcome::Gone);
  EXPECT_EQ(collect::precheck_outcome(LookupHit{8, TcpState::CloseWait}, 7, cw),
            DestroyOutcome::Stale);
  EXPECT_EQ(collect::precheck_outcome(LookupHit{7, TcpState::LastAck}, 7, cw),
            DestroyOutcome::StateChanged);
  EXPECT_FALSE(collect::precheck_outcome(LookupHit{7, TcpState::CloseWait}, 7, cw));
}

TEST(SockDestroy, DestroyOutcome) {
  EXPECT_EQ(collect::destroy_outcome(0, std::nullopt, 7), DestroyOutcome::Destroyed);
  EXPECT_EQ(collect::destroy_outcome(EPERM, std::nullopt, 7), DestroyOutcome::NotPermitted);
  EXPECT_EQ(collect::destroy_outcome(EOPNOTSUPP, std::nullopt, 7), DestroyOutcome::NotSupported);
  EXPECT_EQ(collect::destroy_outcome(ENOENT, std::nullopt, 7), DestroyOutcome::Gone);
  // ENOENT while another socket holds the 4-tuple: the kernel refused our cookie.
  EXPECT_EQ(collect::destroy_outcome(ENOENT, LookupHit{9, TcpState::Established}, 7),
            DestroyOutcome::Stale);
  // ENOENT for our own socket: tcp_abort() found it already CLOSE.
  EXPECT_EQ(collect::destroy_outcome(ENOENT, LookupHit{7, TcpState::Close}, 7),
            DestroyOutcome::Gone);
  EXPECT_EQ(collect::destroy_outcome(EIO, std::nullopt, 7), DestroyOutcome::Failed);
  EXPECT_EQ(collect::outcome_name(DestroyOutcome::Gone), "already_gone");
  EXPECT_EQ(collect::outcome_name(DestroyOutcome::NotPermitted), "not_permitted");
}
