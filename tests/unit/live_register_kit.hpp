// Helpers of the live state register tests: a private network namespace, a register started or
// the test skipped (failed with SOCKDOCTOR_REQUIRE_BPF=1), loopback connections, cookies, lookups,
// and waits for the kernel's own view of a socket's state.
#pragma once

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "collect/state_register.hpp"

namespace sockdoctor::collect::live_test {

using core::TcpState;
using namespace std::chrono_literals;

inline bool bpf_required() {
  const char* v = std::getenv("SOCKDOCTOR_REQUIRE_BPF");
  return v != nullptr && std::string_view(v) == "1";
}

// A private network namespace with lo up; "" or why not.
inline std::string private_netns() {
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + strerror(errno);
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  const bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0 &&
                  (ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP),
                   ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
  if (s >= 0) ::close(s);
  return up ? "" : "could not bring lo up";
}

#define START_OR_SKIP(var, opts)                                                                   \
  if (auto why = private_netns(); !why.empty()) {                                                  \
    if (bpf_required()) FAIL() << why;                                                             \
    GTEST_SKIP() << why;                                                                           \
  }                                                                                                \
  auto var = StateRegister::start(opts);                                                           \
  if (!var && (var.error().code == core::ErrorCode::PermissionDenied ||                            \
               var.error().code == core::ErrorCode::Unavailable)) {                                \
    if (bpf_required()) FAIL() << "SOCKDOCTOR_REQUIRE_BPF=1 but: " << var.error().message;         \
    GTEST_SKIP() << var.error().message;                                                           \
  }                                                                                                \
  ASSERT_TRUE(var) << var.error().message

inline std::uint64_t cookie_of(int fd) {
  std::uint64_t c = 0;
  socklen_t len = sizeof c;
  return ::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) == 0 ? c : 0;
}

inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

struct Conn {
  int listener = -1, client = -1, server = -1;
  ~Conn() {
    for (int fd : {listener, client, server})
      if (fd >= 0) ::close(fd);
  }
};

inline void connect_on(Conn& c, std::uint16_t port) {
  const sockaddr_in a = loopback(port);
  c.listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::bind(c.listener, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(c.listener, 8), 0);
  c.client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(c.client, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  c.server = ::accept4(c.listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(c.server, 0);
}

inline std::optional<core::TracedSocket> lookup_one(const RegisterReader& r, std::uint64_t cookie) {
  auto got = r.lookup(std::span(&cookie, 1));
  EXPECT_TRUE(got) << got.error().message;
  return got ? (*got)[0] : std::nullopt;
}

inline double age_ms(const core::TracedSocket& e) {
  return static_cast<double>(boot_time_ns() - e.entered_boot_ns) / 1e6;
}

// The kernel's own view of a socket's state. Transitions driven by the peer's packets happen in
// softirq, which a loaded box may defer to ksoftirqd: tests wait for the state instead of
// sleeping a fixed time and hoping.
inline std::uint8_t kernel_state(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 ? ti.tcpi_state : 0;
}

inline bool wait_for_kernel_state(int fd, TcpState want) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (kernel_state(fd) != static_cast<std::uint8_t>(want)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

} // namespace sockdoctor::collect::live_test
