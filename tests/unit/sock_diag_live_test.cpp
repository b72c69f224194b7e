// sock_diag dump on a live kernel: one loopback listener and connection in a private network
// namespace, and the dump's answers to EINTR, ENOBUFS and NLM_F_DUMP_INTR injected under it.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "collect/sock_diag.hpp"
#include "core/snapshot.hpp"

using namespace sockdoctor;
using collect::decode_sock_diag;
using collect::SockDiagRequest;
using core::TcpSocket;
using core::TcpState;

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
