// The state register on the running kernel (root + eBPF; skipped otherwise, failed instead when
// SOCKDOCTOR_REQUIRE_BPF=1): entries by cookie, pre-existing sockets, the stream, eviction
// accounting, pins and stale pins. Sockets live in a private network namespace per test.
#include "collect/state_register.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "collect/bpf_runtime.hpp"
#include "live_register_kit.hpp"

namespace sockdoctor::collect {
namespace {

using core::TcpState;
using namespace live_test;
using namespace std::chrono_literals;

TEST(LiveRegister, CloseWaitAgeIsExactAndEveryoneHasTheRightRole) {
  START_OR_SKIP(reg, StateRegisterOptions{});
  Conn c;
  connect_on(c, 8501);
  const std::uint64_t before_close = boot_time_ns();
  ::close(c.client); // the server's socket enters CLOSE_WAIT now (or when softirq runs)
  c.client = -1;
  ASSERT_TRUE(wait_for_kernel_state(c.server, TcpState::CloseWait));
  const std::uint64_t seen_close_wait = boot_time_ns();
  std::this_thread::sleep_for(200ms);
  auto reader = reg->reader();
  ASSERT_TRUE(reader) << reader.error().message;
  auto server = lookup_one(*reader, cookie_of(c.server));
  ASSERT_TRUE(server) << "the accepted socket is traced";
  EXPECT_EQ(server->state, TcpState::CloseWait);
  EXPECT_TRUE(server->entered_exact);
  // Exact: stamped between the close and the moment the kernel showed CLOSE_WAIT, and at least
  // the sleep old. Clock readings bound it, not a tolerance a loaded box can oversleep.
  EXPECT_GE(server->entered_boot_ns, before_close);
  EXPECT_LE(server->entered_boot_ns, seen_close_wait);
  EXPECT_GE(age_ms(*server), 200);
  EXPECT_EQ(server->owner.pid, ::getpid());
  EXPECT_EQ(server->owner.role, core::OwnerRole::Accept);
  EXPECT_TRUE(server->born_traced);
  auto listener = lookup_one(*reader, cookie_of(c.listener));
  ASSERT_TRUE(listener);
  EXPECT_EQ(listener->state, TcpState::Listen);
  EXPECT_EQ(listener->owner.role, core::OwnerRole::Listen);
  auto counters = reg->counters();
  ASSERT_TRUE(counters);
  EXPECT_GE(counters->inserts, 3u);
  EXPECT_EQ(counters->insert_failures, 0u);
}

// The tick clock (serve's): the entry time is the start of the jiffy the transition ran in, so
// at most one jiffy (10 ms at HZ=100, the coarsest) before the close, and never after the
// kernel showed the state.
TEST(LiveRegister, TickClockEntryTimesAreAtMostOneJiffyEarly) {
  StateRegisterOptions opts;
  opts.tick_clock = true;
  START_OR_SKIP(reg, opts);
  constexpr std::uint64_t kJiffyMaxNs = 10'000'000;
  std::vector<std::uint64_t> entered;
  for (int port = 8521; port < 8526; ++port) {
    Conn c;
    connect_on(c, port);
    const std::uint64_t before_close = boot_time_ns();
    ::close(c.client);
    c.client = -1;
    ASSERT_TRUE(wait_for_kernel_state(c.server, TcpState::CloseWait));
    const std::uint64_t seen_close_wait = boot_time_ns();
    auto reader = reg->reader();
    ASSERT_TRUE(reader) << reader.error().message;
    auto server = lookup_one(*reader, cookie_of(c.server));
    ASSERT_TRUE(server);
    EXPECT_EQ(server->state, TcpState::CloseWait);
    EXPECT_TRUE(server->entered_exact);
    EXPECT_GE(server->entered_boot_ns + kJiffyMaxNs, before_close);
    EXPECT_LE(server->entered_boot_ns, seen_close_wait);
    entered.push_back(server->entered_boot_ns);
    std::this_thread::sleep_for(7ms); // the next one in another jiffy
  }
  // Times of jiffy starts lie whole jiffies apart (>= 1 ms, HZ <= 1000); clock reads do not.
  std::uint64_t step = 0;
  for (std::uint64_t t : entered)
    step = std::gcd(step, t > entered.front() ? t - entered.front() : entered.front() - t);
  EXPECT_GE(step, 1'000'000u) << "entry times are not on jiffy boundaries";
}

TEST(LiveRegister, SocketsOlderThanTheRegisterAreNotTracedUntilTheyMove) {
  Conn c;
  std::string why = private_netns();
  if (!why.empty()) GTEST_SKIP() << why;
  connect_on(c, 8502); // before the register: its entries cannot exist
  auto reg = StateRegister::start(StateRegisterOptions{});
  if (!reg && !bpf_required()) GTEST_SKIP() << reg.error().message;
  ASSERT_TRUE(reg) << reg.error().message;
  auto reader = reg->reader();
  ASSERT_TRUE(reader);
  EXPECT_FALSE(lookup_one(*reader, cookie_of(c.client)));
  EXPECT_FALSE(lookup_one(*reader, cookie_of(c.server)));
  EXPECT_FALSE(lookup_one(*reader, 0)) << "cookie 0 is never traced";
  ASSERT_EQ(::shutdown(c.client, SHUT_WR), 0); // a syscall transition: now it is known
  ASSERT_TRUE(wait_for_kernel_state(c.client, TcpState::FinWait2));
  ASSERT_TRUE(wait_for_kernel_state(c.server, TcpState::CloseWait));
  auto client = lookup_one(*reader, cookie_of(c.client));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->state, TcpState::FinWait2);
  EXPECT_TRUE(client->entered_exact) << "the new state's start was seen";
  EXPECT_FALSE(client->born_traced);
  EXPECT_TRUE(client->closed_by_owner());
  EXPECT_EQ(client->owner.pid, ::getpid());
  auto server = lookup_one(*reader, cookie_of(c.server));
  ASSERT_TRUE(server);
  EXPECT_EQ(server->state, TcpState::CloseWait);
  EXPECT_FALSE(server->owner.known()) << "softirq transitions teach no owner";
}

TEST(LiveRegister, StreamIsFilteredByPortAndTimesTheOldState) {
  StateRegisterOptions o;
  o.stream = true;
  o.filter_port = 8503;
  START_OR_SKIP(reg, o);
  Conn other, c;
  connect_on(other, 8504); // filtered out in the kernel
  const std::uint64_t before_connect = boot_time_ns();
  connect_on(c, 8503); // the accepted socket is ESTABLISHED before accept() returns it
  const std::uint64_t accepted = boot_time_ns();
  std::this_thread::sleep_for(100ms);
  const std::uint64_t before_close = boot_time_ns();
  ::close(c.server); // server closes first: ESTABLISHED -> FIN_WAIT1 inside this call
  const std::uint64_t after_close = boot_time_ns();
  c.server = -1;
  std::vector<core::SocketTransition> seen;
  const StateRegister::Sink sink = [&seen](const core::SocketTransition& t) { seen.push_back(t); };
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(reg->poll(20, sink));
  bool fin_wait1 = false;
  for (const auto& t : seen) {
    EXPECT_TRUE(t.local.port == 8503 || t.peer.port == 8503) << core::to_string(t.local);
    if (t.new_state == TcpState::FinWait1) {
      fin_wait1 = true;
      ASSERT_TRUE(t.in_old_state_ns);
      // Bounded by clock readings around connect and close (a loaded box oversleeps 100 ms).
      EXPECT_GE(*t.in_old_state_ns, before_close - accepted);
      EXPECT_LE(*t.in_old_state_ns, after_close - before_connect);
      EXPECT_EQ(t.owner.role, core::OwnerRole::Close);
    }
  }
  EXPECT_TRUE(fin_wait1);
  EXPECT_EQ(reg->malformed_events(), 0u);
}

// The register alone (serve, `trace --register-only`) makes entries at the first closing
// transition: nothing while a socket opens, and the closing states keep exact ages and the pid
// of the process whose close()/shutdown() caused them (here a child, not the test itself).
TEST(LiveRegister, LazyEntriesStartAtTheFirstClosingState) {
  StateRegisterOptions o;
  o.lazy_entries = true;
  o.tick_clock = true;
  START_OR_SKIP(reg, o);
  constexpr std::uint64_t kJiffyMaxNs = 10'000'000;
  Conn c;
  connect_on(c, 8531);
  auto reader = reg->reader();
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_FALSE(lookup_one(*reader, cookie_of(c.client))) << "ESTABLISHED: no entry";
  EXPECT_FALSE(lookup_one(*reader, cookie_of(c.server)));
  EXPECT_FALSE(lookup_one(*reader, cookie_of(c.listener))) << "LISTEN: no entry";
  const std::uint64_t client_cookie = cookie_of(c.client);
  const std::uint64_t before_shutdown = boot_time_ns();
  const pid_t closer = ::fork();
  if (closer == 0) ::_exit(::shutdown(c.client, SHUT_WR) == 0 ? 0 : 1);
  int status = 0;
  ASSERT_EQ(::waitpid(closer, &status, 0), closer);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(wait_for_kernel_state(c.server, TcpState::CloseWait));
  ASSERT_TRUE(wait_for_kernel_state(c.client, TcpState::FinWait2));
  const std::uint64_t seen_close_wait = boot_time_ns();
  auto server = lookup_one(*reader, cookie_of(c.server));
  ASSERT_TRUE(server) << "CLOSE_WAIT has an entry from its start";
  EXPECT_EQ(server->state, TcpState::CloseWait);
  EXPECT_TRUE(server->entered_exact);
  EXPECT_GE(server->entered_boot_ns + kJiffyMaxNs, before_shutdown);
  EXPECT_LE(server->entered_boot_ns, seen_close_wait);
  EXPECT_FALSE(server->owner.known()) << "softirq transitions teach no owner";
  auto half = lookup_one(*reader, client_cookie);
  ASSERT_TRUE(half) << "the half-closed FIN_WAIT2 has an entry";
  EXPECT_EQ(half->state, TcpState::FinWait2);
  EXPECT_TRUE(half->entered_exact);
  EXPECT_EQ(half->owner.pid, closer);
  EXPECT_TRUE(half->closed_by_owner());

  // The server closes: LAST_ACK for it, and the client's FIN_WAIT2 gets the FIN: TIME_WAIT.
  const std::uint64_t before_close = boot_time_ns();
  ::close(c.server);
  c.server = -1;
  ASSERT_TRUE(wait_for_kernel_state(c.client, TcpState::Close)) << "replaced by a mini-socket";
  const std::uint64_t seen_time_wait = boot_time_ns();
  std::this_thread::sleep_for(100ms);
  auto tw = lookup_one(*reader, client_cookie);
  ASSERT_TRUE(tw) << "the TIME_WAIT mini-socket keeps the entry";
  EXPECT_EQ(tw->state, TcpState::TimeWait);
  EXPECT_TRUE(tw->mini_socket);
  EXPECT_TRUE(tw->entered_exact);
  EXPECT_GE(tw->entered_boot_ns + kJiffyMaxNs, before_close);
  EXPECT_LE(tw->entered_boot_ns, seen_time_wait);
  EXPECT_EQ(tw->owner.pid, closer) << "TIME_WAIT is attributed to the process that closed first";
  auto counters = reg->counters();
  ASSERT_TRUE(counters);
  EXPECT_GE(counters->inserts, 2u); // the register is global: other namespaces count too
  EXPECT_EQ(counters->insert_failures, 0u);
}

// The register alone has no timer program: an orphan's FIN_WAIT2 mini-socket is known from its
// full socket's ->CLOSE (no FIN from the peer yet), and an abort (RST) ends the entry.
TEST(LiveRegister, RegisterAloneTakesMiniSocketsFromTheClose) {
  StateRegisterOptions o;
  o.lazy_entries = true;
  START_OR_SKIP(reg, o);
  auto reader = reg->reader();
  ASSERT_TRUE(reader) << reader.error().message;
  Conn orphan;
  connect_on(orphan, 8541);
  const std::uint64_t orphan_cookie = cookie_of(orphan.client);
  ::close(orphan.client); // an orphan: after the ACK of its FIN, a FIN_WAIT2 mini-socket
  orphan.client = -1;
  ASSERT_TRUE(wait_for_kernel_state(orphan.server, TcpState::CloseWait));
  std::optional<core::TracedSocket> e;
  for (int i = 0; i < 2000 && !(e && e->mini_socket); ++i) { // the ACK may be delayed 40 ms+
    std::this_thread::sleep_for(5ms);
    e = lookup_one(*reader, orphan_cookie);
  }
  ASSERT_TRUE(e && e->mini_socket) << "the orphan's entry moves to its mini-socket";
  EXPECT_EQ(e->state, TcpState::FinWait2) << "no FIN from the peer yet: FIN_WAIT2, not TIME_WAIT";
  EXPECT_TRUE(e->entered_exact);
  EXPECT_EQ(e->owner.pid, ::getpid());
  EXPECT_TRUE(e->closed_by_owner());

  Conn aborted;
  connect_on(aborted, 8542);
  const std::uint64_t aborted_cookie = cookie_of(aborted.client);
  ASSERT_EQ(::shutdown(aborted.client, SHUT_WR), 0);
  ASSERT_TRUE(wait_for_kernel_state(aborted.client, TcpState::FinWait2));
  ASSERT_TRUE(lookup_one(*reader, aborted_cookie)) << "the half-closed socket has an entry";
  const linger reset{1, 0};
  ASSERT_EQ(::setsockopt(aborted.server, SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  ::close(aborted.server); // a RST: the client goes to CLOSE with sk_err set, no mini-socket
  aborted.server = -1;
  ASSERT_TRUE(wait_for_kernel_state(aborted.client, TcpState::Close));
  EXPECT_FALSE(lookup_one(*reader, aborted_cookie)) << "an abort ends the entry";
}

TEST(LiveRegister, ATinyMapCountsItsEvictions) {
  StateRegisterOptions o;
  o.max_entries = 16;
  START_OR_SKIP(reg, o);
  std::vector<int> listeners;
  for (std::uint16_t port = 8600; port < 8664; ++port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in a = loopback(port);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    listeners.push_back(fd);
  }
  auto live = reg->count_entries();
  auto counters = reg->counters();
  ASSERT_TRUE(live && counters);
  EXPECT_LE(*live, 16u);
  // At least our 64: the register sees every namespace, and other jobs on the host add theirs.
  EXPECT_GE(counters->inserts + counters->insert_failures, 64u);
  EXPECT_GE(counters->evictions + counters->insert_failures, 48u)
      << "64 listeners in 16 entries: the rest are counted, not silently gone";
  for (int fd : listeners)
    ::close(fd);
}

// bpffs mounted on a fresh directory in a private mount namespace; "" or why not.
std::string private_bpffs(std::string& dir) {
  char tmpl[] = "/tmp/sd-bpffs-XXXXXX";
  if (::unshare(CLONE_NEWNS) != 0) return "unshare(CLONE_NEWNS) failed";
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "make-rprivate";
  if (::mkdtemp(tmpl) == nullptr) return "mkdtemp failed";
  dir = tmpl;
  if (::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700") != 0) return "mount bpffs failed";
  return "";
}

TEST(LiveRegister, PinnedReaderLiveHostAndStalePinsReplaced) {
  StateRegisterOptions o;
  START_OR_SKIP(unpinned, o); // proves BPF works here before touching mounts
  unpinned->stop();
  std::string dir;
  if (auto why = private_bpffs(dir); !why.empty()) GTEST_SKIP() << why;
  o.pin = true;
  o.pin_root = dir + "/sd";

  auto host = StateRegister::start(o);
  ASSERT_TRUE(host) << host.error().message;
  EXPECT_EQ(host->report().pin_dir, dir + "/sd/register");
  auto reader = open_pinned_register(o.pin_root);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ(reader->info().host_pid, ::getpid());
  EXPECT_TRUE(reader->host_alive());
  EXPECT_GT(reader->info().started_boot_ns, 0u);
  EXPECT_LE(reader->info().started_boot_ns, boot_time_ns());
  auto second = StateRegister::start(o);
  ASSERT_FALSE(second) << "a live host keeps its pins";
  EXPECT_NE(second.error().message.find("already hosted by pid " + std::to_string(::getpid())),
            std::string::npos)
      << second.error().message;
  host->stop();
  auto gone = open_pinned_register(o.pin_root);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, core::ErrorCode::NotFound) << "a clean stop removes the pins";

  // A host that dies without cleaning up (SIGKILL, a crash) leaves its pins behind.
  const pid_t child = ::fork();
  if (child == 0) {
    auto crashed = StateRegister::start(o);
    ::_exit(crashed ? 0 : 1); // no destructor runs: the pins stay
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto stale = open_pinned_register(o.pin_root);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, core::ErrorCode::Unavailable);
  EXPECT_NE(stale.error().message.find("stale"), std::string::npos) << stale.error().message;
  auto replacement = StateRegister::start(o);
  ASSERT_TRUE(replacement) << replacement.error().message;
  EXPECT_NE(replacement->report().replaced_pin_note.find(std::to_string(child)), std::string::npos)
      << replacement->report().replaced_pin_note;
  EXPECT_TRUE(open_pinned_register(o.pin_root));
  replacement->stop();
  ::umount2(dir.c_str(), MNT_DETACH);
  ::rmdir(dir.c_str());
}

TEST(BpfRuntime, ErrorsCarryTheirCodeAndNameWhatIsMissing) {
  auto perm = bpf_error("state register: load", EPERM, "needs tp_btf");
  EXPECT_EQ(perm.code, core::ErrorCode::PermissionDenied);
  EXPECT_NE(perm.message.find("CAP_BPF and CAP_PERFMON, or root"), std::string::npos);
  auto kernel = bpf_error("state register: load", EINVAL, "needs tp_btf");
  EXPECT_EQ(kernel.code, core::ErrorCode::Unavailable);
  EXPECT_NE(kernel.message.find("needs tp_btf; SOCKDOCTOR_BPF_DEBUG=1"), std::string::npos);
  EXPECT_EQ(bpf_error("x", EIO).code, core::ErrorCode::Failed);
  EXPECT_EQ(bpf_error("x", EIO).message, "x: Input/output error");
  EXPECT_EQ(&bpf_probe(), &bpf_probe()) << "probed once per process";
  EXPECT_FALSE(is_bpffs("/proc"));
  EXPECT_LE(bpf_log_tail(1000).size(), 256u);
}

} // namespace
} // namespace sockdoctor::collect
