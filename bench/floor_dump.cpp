// The floor for snapshot speed: the same sock_diag TCP dump sockdoctor makes, only counting
// replies.
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/tcp_state.hpp"

namespace sockdoctor::bench {
namespace {

class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

private:
  int fd_;
};

using StateCounts = std::array<std::uint64_t, core::kMaxTcpState + 1>;

struct DumpRequest {
  nlmsghdr nlh;
  inet_diag_req_v2 req;
};

core::Result<void> send_request(int fd, std::uint8_t family) {
  DumpRequest r{};
  r.nlh.nlmsg_len = sizeof(r);
  r.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  r.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  r.nlh.nlmsg_seq = family;
  r.req.sdiag_family = family;
  r.req.sdiag_protocol = IPPROTO_TCP;
  r.req.idiag_ext = 1u << (INET_DIAG_INFO - 1); // tcp_info costs kernel time: ask like sockdoctor
  r.req.idiag_states = core::kAllStatesMask;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &r, sizeof(r), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0)
    return core::fail(std::string("sendto: ") + std::strerror(errno), errno);
  return {};
}

// Reads dump replies until NLMSG_DONE, counting each socket by its state.
core::Result<void> count_replies(int fd, std::vector<char>& buf, StateCounts& counts) {
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(std::string("recv: ") + std::strerror(errno), errno);
    if (n == 0) return core::fail("recv: unexpected end of stream");
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return {};
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return core::fail(std::string("kernel: ") + std::strerror(-e->error), -e->error);
      }
      const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      std::uint8_t st = msg->idiag_state <= core::kMaxTcpState ? msg->idiag_state : 0;
      ++counts[st];
    }
  }
}

core::Result<void> dump_family(std::uint8_t family, std::vector<char>& buf, StateCounts& counts) {
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (fd.get() < 0) return core::fail(std::string("socket: ") + std::strerror(errno), errno);
  // A large socket buffer lets the kernel queue more dump chunks while we count the last one.
  int rcvbuf = 8 << 20;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (auto r = send_request(fd.get(), family); !r) return r;
  return count_replies(fd.get(), buf, counts);
}

} // namespace
} // namespace sockdoctor::bench

int main(int argc, char** argv) {
  using namespace sockdoctor;
  bool quiet = argc > 1 && std::strcmp(argv[1], "-q") == 0;
  if (argc > 1 && !quiet) {
    std::fprintf(stderr, "usage: floor_dump [-q]\n"
                         "Dumps TCP sockets of this netns over sock_diag (v4 then v6, all states\n"
                         "but CLOSE, with tcp_info) and prints the count per state (-q: total).\n");
    return 64;
  }
  // The kernel fills at most ~32 KiB per dump chunk (netlink max_recvmsg_len); more is unused.
  std::vector<char> buf(64 * 1024);
  bench::StateCounts counts{};
  for (std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
    if (auto r = bench::dump_family(family, buf, counts); !r) {
      std::fprintf(stderr, "floor_dump: sock_diag %s: %s\n",
                   family == AF_INET ? "AF_INET" : "AF_INET6", r.error().message.c_str());
      return 1;
    }
  }
  std::uint64_t total = 0;
  for (auto c : counts)
    total += c;
  if (!quiet) {
    for (auto s : core::kAllStates)
      if (counts[static_cast<unsigned>(s)] != 0)
        std::printf("%s %llu\n", std::string(core::ss_name(s)).c_str(),
                    static_cast<unsigned long long>(counts[static_cast<unsigned>(s)]));
  }
  std::printf("total %llu\n", static_cast<unsigned long long>(total));
  return 0;
}
