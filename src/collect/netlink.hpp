// The NETLINK_SOCK_DIAG socket: open with a receive timeout, send one request, receive replies.
// sock_diag dumps use it now; SOCK_DESTROY requests (sockdoctor kill) use the same socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/error.hpp"

struct mnl_socket;
struct nlmsghdr;

namespace sockdoctor::collect {

// The kernel caps one dump skb at 32 KiB (netlink_recvmsg's max_recvmsg_len), so a 1 MiB buffer
// never truncates a datagram.
inline constexpr std::size_t kNetlinkRecvBuffer = 1u << 20;
// A reply that does not come within this long is reported, never waited on.
inline constexpr int kNetlinkTimeoutSeconds = 30;

class DiagSocket {
public:
  // A socket of the calling thread's network namespace (the one setns() last entered).
  // rcvbuf_bytes > 0 raises SO_RCVBUF (SO_RCVBUFFORCE when permitted).
  static core::Result<DiagSocket> open(int rcvbuf_bytes = 0,
                                       int timeout_seconds = kNetlinkTimeoutSeconds);

  // Sends one message (nlmsg_len bytes).
  core::Result<void> send(const nlmsghdr* message);
  // Receives one datagram into buf: its length. EINTR is retried (bounded); a timeout is
  // ErrorCode::Timeout, ENOBUFS (replies dropped: the receive buffer overflowed) keeps its errno.
  core::Result<std::size_t> receive(std::byte* buf, std::size_t size);

  std::uint32_t port_id() const;
  int fd() const;

private:
  struct Closer {
    void operator()(mnl_socket* nl) const;
  };
  explicit DiagSocket(mnl_socket* nl) : nl_(nl) {}
  std::unique_ptr<mnl_socket, Closer> nl_;
};

} // namespace sockdoctor::collect
