// SOCK_DESTROY (what `ss -K` sends) for one TCP socket named by 4-tuple and cookie, and the exact
// lookup that tells a destroyed socket from a stale request: pure encoders and decoders plus the
// two calls over a DiagSocket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "collect/netlink.hpp"
#include "core/error.hpp"
#include "core/socket.hpp"

namespace sockdoctor::collect {

// The socket a request names: what the kernel's lookup (tcp_diag_find_one_icsk) matches on.
struct SocketId {
  core::Endpoint local;
  core::Endpoint peer;
  std::uint64_t cookie = 0;
  std::uint32_t ifindex = 0; // idiag_if: only sockets bound to a device need it
};

// ifindex: Snapshot::bound_ifindex(s.cookie), the device the socket is bound to (0 = none).
SocketId socket_id_of(const core::TcpSocket& s, std::uint32_t ifindex = 0);

// Request buffers: a netlink header plus struct inet_diag_req_v2, 4-byte aligned.
inline constexpr std::size_t kDiagRequestBytes = 72;

// SOCK_DESTROY with NLM_F_ACK: the kernel looks the 4-tuple up and, unless the cookie is the
// socket's own, answers ENOENT without touching it (sock_diag_check_cookie). Returns the bytes
// used in buf.
std::size_t encode_destroy_request(std::span<std::byte, kDiagRequestBytes> buf,
                                   const SocketId& id,
                                   std::uint32_t seq);

// SOCK_DIAG_BY_FAMILY without NLM_F_DUMP (inet_diag's "dump one"): with_cookie false asks for
// whatever socket holds the 4-tuple now (INET_DIAG_NOCOOKIE).
std::size_t encode_lookup_request(std::span<std::byte, kDiagRequestBytes> buf,
                                  const SocketId& id,
                                  bool with_cookie,
                                  std::uint32_t seq);

// The errno of an NLMSG_ERROR reply to `seq` (0 = the acknowledgement of success). Fails on
// anything else: a truncated or foreign message is never read as success.
core::Result<int> decode_ack(std::span<const std::byte> reply, std::uint32_t seq);

// What an exact lookup found: the socket now holding the 4-tuple.
struct LookupHit {
  std::uint64_t cookie = 0;
  core::TcpState state = core::TcpState::Unknown;
};
// The reply to a lookup: a socket, nullopt for ENOENT, or an error (another errno, garbage).
core::Result<std::optional<LookupHit>> decode_lookup_reply(std::span<const std::byte> reply,
                                                           std::uint32_t seq);

// What became of one socket sockdoctor set out to destroy.
enum class DestroyOutcome : std::uint8_t {
  Destroyed,    // the kernel aborted it (tcp_abort)
  Gone,         // nothing holds the 4-tuple any more (closed, or destroyed by someone else)
  Stale,        // another socket (another cookie) holds the 4-tuple now: left alone
  StateChanged, // same socket, but its state left the ones asked for: left alone
  NotSupported, // EOPNOTSUPP: no CONFIG_INET_DIAG_DESTROY, or a state this kernel cannot destroy
  NotPermitted, // EPERM: needs CAP_NET_ADMIN in the socket's netns's user namespace
  Failed,       // any other errno, or no valid answer
};

// "destroyed", "already_gone", "stale", "state_changed", "not_supported", "not_permitted",
// "failed" (stable: audit lines, JSON and tests match on them).
std::string_view outcome_name(DestroyOutcome o);

// Before destroying: what the 4-tuple lookup found says whether to go ahead (nullopt) or why not.
// The socket must still exist, carry the cookie it was listed with, and be in a wanted state.
std::optional<DestroyOutcome> precheck_outcome(const std::optional<LookupHit>& now,
                                               std::uint64_t cookie,
                                               std::uint32_t state_mask);

// After SOCK_DESTROY answered err: ENOENT is all the kernel says both for "no socket" and for
// "a socket with another cookie" (tcp_diag_find_one_icsk turns sock_diag_check_cookie's ESTALE
// into ENOENT), so a second lookup without the cookie (`after`) tells them apart.
DestroyOutcome
destroy_outcome(int err, const std::optional<LookupHit>& after, std::uint64_t cookie);

struct DestroyReport {
  DestroyOutcome outcome = DestroyOutcome::Failed;
  int err = 0;       // the kernel's errno for SOCK_DESTROY (0: not sent, or success)
  bool sent = false; // a SOCK_DESTROY request went out
  core::TcpState state_now = core::TcpState::Unknown; // as the pre-check found it
  std::uint64_t other_cookie = 0; // Stale: the cookie of the socket found instead
  std::string detail;             // Failed: what went wrong
};

// ---- Live calls on a socket of the calling thread's network namespace ----

// Look up (4-tuple), check (cookie, state), destroy (with the cookie, so the kernel re-checks it
// at the moment of destruction), and on ENOENT look again to tell Gone from Stale.
DestroyReport destroy_verified(DiagSocket& nl, const SocketId& id, std::uint32_t state_mask);

// The kernel's answer to SOCK_DESTROY: 0, ENOENT, EPERM, EOPNOTSUPP, ... (an errno, as a value);
// an error only when the request could not be sent or no valid answer came.
core::Result<int> send_destroy(DiagSocket& nl, const SocketId& id);
// The socket holding id's 4-tuple (checking the cookie when with_cookie), or nullopt.
core::Result<std::optional<LookupHit>>
lookup_socket(DiagSocket& nl, const SocketId& id, bool with_cookie);

} // namespace sockdoctor::collect
