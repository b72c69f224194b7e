// The state register's table on the running kernel: which entry a full set of 4 ways gives up
// (register alone). Root + eBPF; skipped otherwise, failed when SOCKDOCTOR_REQUIRE_BPF=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "collect/state_register.hpp"
#include "collect/state_register_table.hpp"
#include "live_register_kit.hpp"

namespace sockdoctor::collect {
namespace {

using core::TcpState;
using namespace live_test;
using namespace std::chrono_literals;

// 1024 sets: a neighbour's socket rarely shares ours.
constexpr std::uint32_t kSetTestEntries = 4096;

// A fresh, unconnected client socket whose cookie lives in `set`. Cookies come in sequence from a
// per-CPU batch, so one of every 1024 sockets lands there; a socket() is a few microseconds.
int socket_in_set(std::uint32_t set) {
  const std::uint32_t bits = register_set_bits(kSetTestEntries);
  for (int i = 0; i < 200000; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (register_set_index(cookie_of(fd), bits) == set) return fd;
    ::close(fd);
  }
  return -1;
}

// Whether the entry of `cookie` becomes a mini-socket's in state `st` (polled, 20 s at most:
// transitions that packets drive may wait for softirq on a loaded box).
bool becomes_mini(const RegisterReader& r, std::uint64_t cookie, TcpState st) {
  for (int i = 0; i < 4000; ++i) {
    const auto e = lookup_one(r, cookie);
    if (e && e->mini_socket && e->state == st) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

struct SetScene {
  int listener = -1;
  std::vector<int> fds; // closed at the end
  ~SetScene() {
    for (int fd : fds)
      ::close(fd);
    if (listener >= 0) ::close(listener);
  }
  // `c` connects to the listener; the accepted end, kept open.
  int connect(int c) {
    const sockaddr_in a = loopback(8700);
    if (::connect(c, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return -1;
    const int s = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (s >= 0) fds.push_back(s);
    return s;
  }
};

// The cookie of a new TIME_WAIT in `set` whose entry the register alone knows exactly: a client
// half-closes, the server closes, and the client's FIN_WAIT2 -> TIME_WAIT is the full socket's
// (an orphan would be a FIN_WAIT2 mini-socket by then, whose TIME_WAIT no tracepoint shows).
// 0 if it went wrong.
std::uint64_t make_time_wait(SetScene& sc, const RegisterReader& r, std::uint32_t set) {
  const int c = socket_in_set(set);
  if (c < 0) return 0;
  sc.fds.push_back(c);
  const std::uint64_t cookie = cookie_of(c);
  const int s = sc.connect(c);
  if (s < 0 || ::shutdown(c, SHUT_WR) != 0) return 0;
  if (!wait_for_kernel_state(s, TcpState::CloseWait)) return 0;
  sc.fds.erase(std::find(sc.fds.begin(), sc.fds.end(), s));
  ::close(s);
  return becomes_mini(r, cookie, TcpState::TimeWait) ? cookie : 0;
}

// A full set of the register alone gives up, in order: an ended TIME_WAIT (entered more than
// 61 s ago, counted as reclaimed), else the oldest other mini-socket, and only then a full
// socket: a stuck half-closed socket outlives the churn beside it. Takes a minute (TIME_WAIT).
TEST(LiveRegister, AFullSetGivesUpEndedTimeWaitThenMiniSocketsThenFullSockets) {
  StateRegisterOptions o;
  o.lazy_entries = true;
  o.max_entries = kSetTestEntries;
  START_OR_SKIP(reg, o);
  auto reader = reg->reader();
  ASSERT_TRUE(reader) << reader.error().message;
  SetScene sc;
  sc.listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in a = loopback(8700);
  ASSERT_EQ(::bind(sc.listener, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(sc.listener, 64), 0);
  const std::uint32_t bits = register_set_bits(kSetTestEntries);

  // Set A: a half-closed full socket (the oldest entry), then three TIME_WAIT mini-sockets.
  const int full = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(full, 0);
  sc.fds.push_back(full);
  const std::uint32_t set_a = register_set_index(cookie_of(full), bits);
  ASSERT_GE(sc.connect(full), 0);
  ASSERT_EQ(::shutdown(full, SHUT_WR), 0);
  ASSERT_TRUE(wait_for_kernel_state(full, TcpState::FinWait2));
  std::uint64_t tw_a[4] = {};
  for (auto& cookie : tw_a) {
    cookie = make_time_wait(sc, *reader, set_a);
    ASSERT_NE(cookie, 0u) << "a TIME_WAIT entry in set " << set_a;
  }
  // The fourth TIME_WAIT found the set full: the oldest mini-socket went, not the older full one.
  EXPECT_FALSE(lookup_one(*reader, tw_a[0])) << "the oldest mini-socket gave way";
  auto kept = lookup_one(*reader, cookie_of(full));
  ASSERT_TRUE(kept) << "the half-closed full socket, the oldest entry, kept its way";
  EXPECT_EQ(kept->state, TcpState::FinWait2);
  EXPECT_FALSE(kept->mini_socket);
  for (int i = 1; i < 4; ++i)
    EXPECT_TRUE(lookup_one(*reader, tw_a[i])) << "TIME_WAIT " << i;

  // Set B: an orphan's FIN_WAIT2 mini-socket (the oldest), then three TIME_WAITs. Once those
  // are over, a new entry takes an ended TIME_WAIT, not the older FIN_WAIT2 entry.
  const int orphan = socket_in_set((set_a + 512) % (1u << bits));
  ASSERT_GE(orphan, 0);
  const std::uint32_t set_b = register_set_index(cookie_of(orphan), bits);
  const std::uint64_t orphan_cookie = cookie_of(orphan);
  ASSERT_GE(sc.connect(orphan), 0); // its server end stays open: no FIN, no TIME_WAIT
  ::close(orphan);
  ASSERT_TRUE(becomes_mini(*reader, orphan_cookie, TcpState::FinWait2));
  std::uint64_t tw_b[3] = {};
  for (auto& cookie : tw_b) {
    cookie = make_time_wait(sc, *reader, set_b);
    ASSERT_NE(cookie, 0u) << "a TIME_WAIT entry in set " << set_b;
  }
  const auto first = lookup_one(*reader, tw_b[0]);
  ASSERT_TRUE(first);
  auto before = reg->counters();
  ASSERT_TRUE(before);
  // TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN); the table waits one second more before it reuses.
  while (boot_time_ns() < first->entered_boot_ns + 62'000'000'000ull)
    std::this_thread::sleep_for(200ms);
  ASSERT_NE(make_time_wait(sc, *reader, set_b), 0u) << "a TIME_WAIT in set " << set_b;
  auto after = reg->counters();
  ASSERT_TRUE(after);
  EXPECT_GE(after->reclaimed, before->reclaimed + 1) << "the reuse is counted as reclaimed";
  EXPECT_FALSE(lookup_one(*reader, tw_b[0])) << "the oldest ended TIME_WAIT gave way";
  EXPECT_TRUE(lookup_one(*reader, orphan_cookie)) << "the older FIN_WAIT2 entry was kept";
}

} // namespace
} // namespace sockdoctor::collect
