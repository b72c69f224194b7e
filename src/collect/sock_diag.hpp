// NETLINK_SOCK_DIAG dump of TCP sockets (live through libmnl, or replayed from recorded replies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/socket.hpp"
#include "core/tcp_state.hpp"

namespace sockdoctor::collect {

struct SockDiagRequest {
  // Goes to idiag_states. The TCP_CLOSE bit is always cleared before asking the kernel: it makes
  // the dump walk the bind hash (slow, and it yields bound-but-unconnected sockets).
  std::uint32_t state_mask = core::kAllStatesMask;
  bool ipv4 = true;
  bool ipv6 = true;
  bool tcp_info = true; // request INET_DIAG_INFO (struct tcp_info) through idiag_ext
};

struct DumpStats {
  std::uint32_t messages = 0; // inet_diag messages seen, before user-space filtering
  std::uint32_t retries = 0;  // dumps redone after NLM_F_DUMP_INTR or ENOBUFS
  std::uint32_t dumps = 0;    // complete dumps (NLMSG_DONE) decoded: one per address family
  // The sockets of the dump bound to a device (idiag_if != 0), in dump order.
  std::vector<core::BoundDevice> bound_devices;
};

// Live dump of TCP sockets over AF_INET then AF_INET6 into `out` (appends). If `record` is
// non-null, the raw reply bytes of the successful attempt are appended to it: the v4 dump ending in
// NLMSG_DONE, then the v6 dump ending in NLMSG_DONE (the format `ss -D FILE` writes).
// On error `out` and `record` are left as they were: never a silently partial list.
core::Result<DumpStats> dump_sock_diag(const SockDiagRequest& req,
                                       std::vector<core::TcpSocket>& out,
                                       std::string* record = nullptr);

// Pure decoder of concatenated netlink messages holding one or more complete dumps (each ends in
// NLMSG_DONE). Applies the state mask and families in user space, since a recorded file may hold
// more than was asked. Appends to `out`; on error `out` is left as it was.
core::Result<DumpStats> decode_sock_diag(std::span<const std::byte> data,
                                         const SockDiagRequest& filter,
                                         std::vector<core::TcpSocket>& out);

// Reads a recorded file (ours or `ss -D`) and decodes it. A file must hold one complete dump per
// family the filter asks for: a recording cut between the IPv4 and IPv6 dumps is an error, not
// an IPv4-only list.
core::Result<DumpStats> replay_sock_diag(const std::string& path,
                                         const SockDiagRequest& filter,
                                         std::vector<core::TcpSocket>& out);

} // namespace sockdoctor::collect
