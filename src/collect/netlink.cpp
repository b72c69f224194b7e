// DiagSocket over libmnl.
#include "collect/netlink.hpp"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace sockdoctor::collect {
namespace {

constexpr int kMaxEintr = 1000;

tl::unexpected<core::Error> sys_fail(const char* what) {
  const int e = errno;
  return core::fail(fmt::format("{}: {}", what, std::strerror(e)), e);
}

} // namespace

void DiagSocket::Closer::operator()(mnl_socket* nl) const {
  mnl_socket_close(nl);
}

core::Result<DiagSocket> DiagSocket::open(int rcvbuf_bytes, int timeout_seconds) {
  mnl_socket* raw = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
  if (raw == nullptr) return sys_fail("socket(NETLINK_SOCK_DIAG)");
  DiagSocket sock(raw);
  if (mnl_socket_bind(raw, 0, MNL_SOCKET_AUTOPID) < 0) return sys_fail("bind");
  const int fd = mnl_socket_get_fd(raw);
  timeval tv{timeout_seconds, 0};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
    return sys_fail("setsockopt(SO_RCVTIMEO)");
  if (rcvbuf_bytes > 0) {
    // SO_RCVBUFFORCE (CAP_NET_ADMIN) ignores rmem_max; without it SO_RCVBUF is capped there.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf_bytes, sizeof rcvbuf_bytes) != 0 &&
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof rcvbuf_bytes) != 0)
      return sys_fail("setsockopt(SO_RCVBUF)");
  }
  return sock;
}

core::Result<void> DiagSocket::send(const nlmsghdr* message) {
  if (mnl_socket_sendto(nl_.get(), message, message->nlmsg_len) < 0) return sys_fail("send");
  return {};
}

core::Result<std::size_t> DiagSocket::receive(std::byte* buf, std::size_t size) {
  for (int eintr = 0;; ++eintr) {
    const ssize_t n = mnl_socket_recvfrom(nl_.get(), buf, size);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) return core::fail("recv: socket closed mid-reply");
    const int e = errno;
    if (e == EINTR && eintr < kMaxEintr) continue;
    if (e == EAGAIN || e == EWOULDBLOCK)
      return core::fail(core::ErrorCode::Timeout,
                        fmt::format("recv: no reply for {} s", kNetlinkTimeoutSeconds), e);
    return core::fail("recv: " + std::string(std::strerror(e)), e);
  }
}

std::uint32_t DiagSocket::port_id() const {
  return mnl_socket_get_portid(nl_.get());
}

int DiagSocket::fd() const {
  return mnl_socket_get_fd(nl_.get());
}

} // namespace sockdoctor::collect
