// SOCK_DESTROY and exact lookups over NETLINK_SOCK_DIAG: fixed-size requests, replies decoded
// with memcpy from the receive buffer (no alignment assumed, no length trusted).
#include "collect/sock_destroy.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace sockdoctor::collect {
namespace {

static_assert(kDiagRequestBytes == NLMSG_LENGTH(sizeof(inet_diag_req_v2)),
              "request buffer size must match the kernel ABI");

std::uint32_t next_seq() {
  static std::atomic<std::uint32_t> seq{1};
  return seq.fetch_add(1);
}

void put_endpoint(__be32 (&addr)[4], __be16& port, const core::Endpoint& ep) {
  std::memcpy(addr, ep.addr.bytes.data(), ep.addr.family == core::Family::Ipv4 ? 4 : 16);
  port = htons(ep.port);
}

std::size_t encode(std::span<std::byte, kDiagRequestBytes> buf,
                   std::uint16_t type,
                   std::uint16_t flags,
                   const SocketId& id,
                   bool with_cookie,
                   std::uint32_t seq) {
  nlmsghdr h{};
  h.nlmsg_len = kDiagRequestBytes;
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  inet_diag_req_v2 r{};
  r.sdiag_family = id.local.addr.family == core::Family::Ipv4 ? AF_INET : AF_INET6;
  r.sdiag_protocol = IPPROTO_TCP;
  r.idiag_states = ~0u; // the exact lookup ignores it; every state, to be explicit
  put_endpoint(r.id.idiag_src, r.id.idiag_sport, id.local);
  put_endpoint(r.id.idiag_dst, r.id.idiag_dport, id.peer);
  r.id.idiag_if = id.ifindex;
  if (with_cookie) {
    r.id.idiag_cookie[0] = static_cast<std::uint32_t>(id.cookie);
    r.id.idiag_cookie[1] = static_cast<std::uint32_t>(id.cookie >> 32);
  } else {
    r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  }
  std::memset(buf.data(), 0, buf.size());
  std::memcpy(buf.data(), &h, sizeof h);
  std::memcpy(buf.data() + NLMSG_HDRLEN, &r, sizeof r);
  return kDiagRequestBytes;
}

// A reply error code is a negated errno; a corrupt one (positive, INT_MIN) becomes EPROTO.
int errno_of(int code) {
  return code < 0 && code > -4096 ? -code : EPROTO;
}

// The first message of a reply, checked against the request's sequence number.
core::Result<nlmsghdr> first_message(std::span<const std::byte> reply, std::uint32_t seq) {
  nlmsghdr h{};
  if (reply.size() < sizeof h)
    return core::fail(
        fmt::format("sock_diag reply: {} bytes, shorter than a netlink header", reply.size()),
        EPROTO);
  std::memcpy(&h, reply.data(), sizeof h);
  if (h.nlmsg_len < sizeof h || h.nlmsg_len > reply.size())
    return core::fail(fmt::format("sock_diag reply: nlmsg_len {} does not fit the {} bytes read",
                                  h.nlmsg_len, reply.size()),
                      EPROTO);
  if (h.nlmsg_seq != seq)
    return core::fail(fmt::format("sock_diag reply: sequence {} answers no request of ours ({})",
                                  h.nlmsg_seq, seq),
                      EPROTO);
  return h;
}

core::Result<int> error_code(std::span<const std::byte> reply, const nlmsghdr& h) {
  if (h.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr)))
    return core::fail("sock_diag reply: short NLMSG_ERROR", EPROTO);
  nlmsgerr e{};
  std::memcpy(&e, reply.data() + NLMSG_HDRLEN, sizeof e);
  return e.error == 0 ? 0 : errno_of(e.error);
}

// Sends one request and reads the datagram that answers it (a stray datagram with another
// sequence number, e.g. left from an earlier timed-out request, is skipped; bounded).
template <typename Decode>
auto round_trip(DiagSocket& nl, std::span<std::byte, kDiagRequestBytes> req, Decode decode)
    -> decltype(decode(std::span<const std::byte>{}, std::uint32_t{})) {
  nlmsghdr h{};
  std::memcpy(&h, req.data(), sizeof h);
  if (auto s = nl.send(reinterpret_cast<const nlmsghdr*>(req.data())); !s)
    return tl::unexpected(s.error());
  // A lookup reply is one inet_diag_msg with attributes (a few hundred bytes); 8 KiB is ample.
  constexpr std::size_t kReplyBytes = 8192;
  auto buf = std::make_unique<std::byte[]>(kReplyBytes);
  for (int stray = 0; stray < 16; ++stray) {
    auto n = nl.receive(buf.get(), kReplyBytes);
    if (!n) return tl::unexpected(n.error());
    std::span<const std::byte> reply(buf.get(), *n);
    nlmsghdr got{};
    if (*n >= sizeof got) std::memcpy(&got, buf.get(), sizeof got);
    if (*n >= sizeof got && got.nlmsg_seq != h.nlmsg_seq) continue;
    return decode(reply, h.nlmsg_seq);
  }
  return core::fail("sock_diag: no reply with our sequence number", EPROTO);
}

} // namespace

SocketId socket_id_of(const core::TcpSocket& s, std::uint32_t ifindex) {
  return SocketId{s.local, s.peer, s.cookie, ifindex};
}

std::size_t encode_destroy_request(std::span<std::byte, kDiagRequestBytes> buf,
                                   const SocketId& id,
                                   std::uint32_t seq) {
  return encode(buf, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, id, true, seq);
}

std::size_t encode_lookup_request(std::span<std::byte, kDiagRequestBytes> buf,
                                  const SocketId& id,
                                  bool with_cookie,
                                  std::uint32_t seq) {
  return encode(buf, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, id, with_cookie, seq);
}

core::Result<int> decode_ack(std::span<const std::byte> reply, std::uint32_t seq) {
  auto h = first_message(reply, seq);
  if (!h) return tl::unexpected(h.error());
  if (h->nlmsg_type != NLMSG_ERROR)
    return core::fail(fmt::format("sock_diag reply: message type {} where an acknowledgement "
                                  "(NLMSG_ERROR) was expected",
                                  h->nlmsg_type),
                      EPROTO);
  return error_code(reply, *h);
}

core::Result<std::optional<LookupHit>> decode_lookup_reply(std::span<const std::byte> reply,
                                                           std::uint32_t seq) {
  auto h = first_message(reply, seq);
  if (!h) return tl::unexpected(h.error());
  if (h->nlmsg_type == NLMSG_ERROR) {
    auto code = error_code(reply, *h);
    if (!code) return tl::unexpected(code.error());
    if (*code == ENOENT) return std::nullopt;
    return core::fail(fmt::format("sock_diag lookup: {}", std::strerror(*code)), *code);
  }
  if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
    return core::fail(fmt::format("sock_diag lookup: unexpected message type {} ({} bytes)",
                                  h->nlmsg_type, h->nlmsg_len),
                      EPROTO);
  inet_diag_msg m{};
  std::memcpy(&m, reply.data() + NLMSG_HDRLEN, sizeof m);
  LookupHit hit;
  hit.cookie = m.id.idiag_cookie[0] | (std::uint64_t{m.id.idiag_cookie[1]} << 32);
  // 12 (TCP_NEW_SYN_RECV) is a request socket: SYN_RECV to everyone else.
  hit.state = m.idiag_state >= 1 && m.idiag_state <= core::kMaxTcpState
                  ? static_cast<core::TcpState>(m.idiag_state)
              : m.idiag_state == 12 ? core::TcpState::SynRecv
                                    : core::TcpState::Unknown;
  return hit;
}

core::Result<int> send_destroy(DiagSocket& nl, const SocketId& id) {
  alignas(nlmsghdr) std::array<std::byte, kDiagRequestBytes> req{};
  encode_destroy_request(req, id, next_seq());
  return round_trip(nl, req, decode_ack);
}

core::Result<std::optional<LookupHit>>
lookup_socket(DiagSocket& nl, const SocketId& id, bool with_cookie) {
  alignas(nlmsghdr) std::array<std::byte, kDiagRequestBytes> req{};
  encode_lookup_request(req, id, with_cookie, next_seq());
  return round_trip(nl, req, decode_lookup_reply);
}

std::string_view outcome_name(DestroyOutcome o) {
  switch (o) {
  case DestroyOutcome::Destroyed:
    return "destroyed";
  case DestroyOutcome::Gone:
    return "already_gone";
  case DestroyOutcome::Stale:
    return "stale";
  case DestroyOutcome::StateChanged:
    return "state_changed";
  case DestroyOutcome::NotSupported:
    return "not_supported";
  case DestroyOutcome::NotPermitted:
    return "not_permitted";
  case DestroyOutcome::Failed:
    return "failed";
  }
  return "failed";
}

std::optional<DestroyOutcome> precheck_outcome(const std::optional<LookupHit>& now,
                                               std::uint64_t cookie,
                                               std::uint32_t state_mask) {
  if (!now) return DestroyOutcome::Gone;
  if (now->cookie != cookie) return DestroyOutcome::Stale;
  if ((core::state_bit(now->state) & state_mask) == 0) return DestroyOutcome::StateChanged;
  return std::nullopt;
}

DestroyOutcome
destroy_outcome(int err, const std::optional<LookupHit>& after, std::uint64_t cookie) {
  switch (err) {
  case 0:
    return DestroyOutcome::Destroyed;
  case EPERM:
    return DestroyOutcome::NotPermitted;
  case EOPNOTSUPP:
    return DestroyOutcome::NotSupported;
  case ENOENT:
    // tcp_abort() also answers ENOENT for our own socket once it is CLOSE: gone either way.
    return after && after->cookie != cookie ? DestroyOutcome::Stale : DestroyOutcome::Gone;
  default:
    return DestroyOutcome::Failed;
  }
}

DestroyReport destroy_verified(DiagSocket& nl, const SocketId& id, std::uint32_t state_mask) {
  DestroyReport r;
  auto fail_with = [&r](const core::Error& e) {
    r.outcome = DestroyOutcome::Failed;
    r.detail = e.message;
    return r;
  };
  auto now = lookup_socket(nl, id, false);
  if (!now) return fail_with(now.error());
  if (*now) r.state_now = (*now)->state;
  if (auto skip = precheck_outcome(*now, id.cookie, state_mask)) {
    r.outcome = *skip;
    if (*skip == DestroyOutcome::Stale) r.other_cookie = (*now)->cookie;
    return r;
  }
  auto err = send_destroy(nl, id);
  if (!err) return fail_with(err.error());
  r.sent = true;
  r.err = *err;
  std::optional<LookupHit> after;
  if (*err == ENOENT) {
    auto again = lookup_socket(nl, id, false);
    if (!again) return fail_with(again.error());
    after = *again;
    if (after && after->cookie != id.cookie) r.other_cookie = after->cookie;
  }
  r.outcome = destroy_outcome(*err, after, id.cookie);
  if (r.outcome == DestroyOutcome::Failed) r.detail = std::strerror(*err);
  return r;
}

} // namespace sockdoctor::collect
