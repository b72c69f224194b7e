// eBPF owner scan: record decoding, table building, and equality with the /proc scan on live
// sockets.
#include "collect/bpf_owners.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collect/bpf/task_sockets.h"
#include "collect/proc_owners.hpp"

namespace sockdoctor::collect {
namespace {

using Ref = std::pair<std::int32_t, std::int32_t>; // (pid, fd)
using RefSet = std::set<Ref>;
using RefList = std::vector<Ref>; // sorted; keeps duplicates visible

// ---------- pure decoding ----------

std::vector<std::byte> encode(const std::vector<task_sockets_record>& recs) {
  std::vector<std::byte> out(recs.size() * sizeof(task_sockets_record));
  if (!recs.empty()) std::memcpy(out.data(), recs.data(), out.size());
  return out;
}

task_sockets_record socket_rec(std::uint32_t pid, std::uint32_t fd, std::uint64_t inode) {
  return task_sockets_record{TASK_SOCKETS_SOCKET, pid, fd, AF_UNIX, inode, 0xffff888000001000ULL};
}

task_sockets_record process_rec(std::uint32_t pid, std::uint32_t fds) {
  return task_sockets_record{TASK_SOCKETS_PROCESS, pid, fds, 0, 0, 0};
}

TEST(BpfOwnersDecode, WholeRecordsOnlyAndCarryAcrossChunks) {
  auto bytes = encode({socket_rec(10, 3, 1001), socket_rec(10, 4, 1002), process_rec(10, 7),
                       task_sockets_record{99, 1, 2, 3, 4, 5}, socket_rec(12, 0, 1001)});
  TaskSocketRecords out;
  // Cut the stream inside the second record: the decoder must consume only the first.
  const std::size_t cut = sizeof(task_sockets_record) + 5;
  std::size_t used = decode_task_socket_records(std::span(bytes.data(), cut), out);
  EXPECT_EQ(used, sizeof(task_sockets_record));
  used += decode_task_socket_records(std::span(bytes).subspan(used), out);
  EXPECT_EQ(used, bytes.size());
  ASSERT_EQ(out.sockets.size(), 3u);
  EXPECT_EQ(out.sockets[1].pid, 10);
  EXPECT_EQ(out.sockets[1].fd, 4);
  EXPECT_EQ(out.sockets[1].inode, 1002u);
  EXPECT_EQ(out.sockets[2].pid, 12);
  ASSERT_EQ(out.processes.size(), 1u);
  EXPECT_EQ(out.processes[0].fd_count, 7u);
  EXPECT_EQ(out.unknown, 1u);
}

TEST(BpfOwnersTable, SortedByPidWithSharedInodesAndFdCounts) {
  TaskSocketRecords recs;
  recs.sockets = {{30, 5, 77}, {30, 6, 78}, {20, 9, 77}};
  recs.processes = {{30, 12}, {20, 3}};
  auto table = build_bpf_owner_table(recs, core::FsRoot{}, /*details=*/false);
  ASSERT_TRUE(table) << table.error().message;
  ASSERT_EQ(table->processes().size(), 2u);
  EXPECT_EQ(table->processes()[0].pid, 20);
  EXPECT_EQ(table->processes()[0].fd_count, 3u);
  EXPECT_EQ(table->processes()[1].fd_count, 12u);
  EXPECT_TRUE(table->scanned);
  auto shared = table->owners_of(77);
  ASSERT_EQ(shared.size(), 2u);
  EXPECT_EQ(table->process(shared[0].process_index).pid, 20);
  EXPECT_EQ(shared[0].fd, 9);
  EXPECT_EQ(table->process(shared[1].process_index).pid, 30);
  EXPECT_EQ(table->owners_of(78).size(), 1u);
}

TEST(BpfOwnersTable, DetailsFromProcAndVanishedHoldersDropped) {
  // pid 0x7ffffff0 cannot exist (pid_max is at most 4M), so it "vanished" before its details.
  const std::int32_t me = ::getpid(), ghost = 0x7ffffff0;
  TaskSocketRecords recs;
  recs.sockets = {{me, 3, 5001}, {ghost, 4, 5002}};
  auto table = build_bpf_owner_table(recs, core::FsRoot{}, /*details=*/true);
  ASSERT_TRUE(table) << table.error().message;
  ASSERT_EQ(table->processes().size(), 1u);
  EXPECT_EQ(table->vanished, 1u);
  EXPECT_EQ(table->owners_of(5002).size(), 0u);
  const core::ProcessInfo& p = table->processes()[0];
  EXPECT_EQ(p.pid, me);
  EXPECT_EQ(p.uid, ::getuid());
  EXPECT_FALSE(p.comm.empty());
  EXPECT_NE(p.netns_ino, 0u);
  EXPECT_GT(p.fd_limit, 0u);
}

TEST(BpfOwnersTable, MissingProcRootIsAnError) {
  TaskSocketRecords recs;
  recs.sockets = {{1, 3, 5001}};
  core::FsRoot root;
  root.proc = "/nonexistent/proc";
  auto table = build_bpf_owner_table(recs, root, /*details=*/true);
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().message.find("/nonexistent/proc"), std::string::npos);
}

// ---------- live: needs a kernel that loads the program ----------

bool bpf_required() {
  const char* v = std::getenv("SOCKDOCTOR_REQUIRE_BPF");
  return v != nullptr && std::string_view(v) == "1";
}

// Runs the BPF scan; nullopt + skip reason when this machine cannot run it.
core::Result<BpfOwnerScanResult> bpf_scan_or_reason(std::string& skip_reason) {
  if (!bpf_owner_scan_compiled()) {
    skip_reason = "built without eBPF support";
    return core::fail(skip_reason);
  }
  auto r = run_bpf_owner_scan(core::FsRoot{}, /*details=*/true);
  if (!r && bpf_owner_scan_unavailable(r.error())) skip_reason = r.error().message;
  return r;
}

// Skips (or fails when SOCKDOCTOR_REQUIRE_BPF=1, so "skipped" never silently means "untested").
#define SCAN_BPF_OR_SKIP(var)                                                                      \
  std::string skip_reason_##var;                                                                   \
  auto var = bpf_scan_or_reason(skip_reason_##var);                                                \
  if (!var && !skip_reason_##var.empty()) {                                                        \
    if (bpf_required()) {                                                                          \
      FAIL() << "SOCKDOCTOR_REQUIRE_BPF=1 but: " << skip_reason_##var;                             \
    }                                                                                              \
    GTEST_SKIP() << skip_reason_##var;                                                             \
  }                                                                                                \
  ASSERT_TRUE(var) << var.error().message

// Independent truth: readlink of every fd of the given pids.
std::map<std::uint32_t, RefSet> readlink_sockets(const std::vector<std::int32_t>& pids) {
  std::map<std::uint32_t, RefSet> out;
  for (std::int32_t pid : pids) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      char link[64];
      ssize_t n = ::readlinkat(::dirfd(d), e->d_name, link, sizeof link - 1);
      if (n <= 0) continue;
      if (auto ino = parse_socket_link(std::string_view(link, static_cast<std::size_t>(n)))) {
        out[*ino].insert({pid, std::atoi(e->d_name)});
      }
    }
    ::closedir(d);
  }
  return out;
}

RefList
refs_of(const core::OwnerTable& t, std::uint32_t inode, const std::set<std::int32_t>& pids) {
  RefList out;
  for (const core::FdRef& r : t.owners_of(inode)) {
    const std::int32_t pid = t.process(r.process_index).pid;
    if (pids.count(pid) != 0) out.emplace_back(pid, r.fd);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const core::ProcessInfo* find_process(const core::OwnerTable& t, std::int32_t pid) {
  for (const auto& p : t.processes()) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

void bring_loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  if (s >= 0) ::close(s);
}

// listener + client + accepted, on 127.0.0.1 of the current (private) netns. Returns false if not.
bool make_tcp_trio() {
  int l = ::socket(AF_INET, SOCK_STREAM, 0), c = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l < 0 || c < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(l, 4) != 0 || ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return false;
  }
  return ::accept(l, nullptr, nullptr) >= 0;
}

// Children that hold sockets until released; killed and reaped by pid on every exit path.
class SocketHolders {
public:
  ~SocketHolders() {
    if (release_[1] >= 0) ::close(release_[1]);
    for (pid_t p : pids_) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0); // the grandchild is reaped by its parent
    }
  }
  // Child: private netns + TCP trio, then a grandchild sharing them (plus its own socketpair and
  // a thread, whose shared fd table must not be reported twice). Returns {child, grandchild}.
  std::optional<std::pair<pid_t, pid_t>> spawn_netns_family() {
    int ready[2];
    if (!ensure_release_pipe() || ::pipe2(ready, O_CLOEXEC) != 0) return std::nullopt;
    pid_t child = ::fork();
    if (child < 0) return std::nullopt;
    if (child == 0) run_child(ready[1]);
    pids_.push_back(child);
    ::close(ready[1]);
    std::int32_t got[2] = {0, 0};
    const bool ok = read_within(ready[0], got, 10000);
    ::close(ready[0]);
    if (!ok || got[0] != child || got[1] <= 0) return std::nullopt;
    return std::make_pair(child, static_cast<pid_t>(got[1]));
  }
  // Child holding `pairs` socketpairs (2 fds each); returns its pid.
  std::optional<pid_t> spawn_socketpairs(int pairs) {
    int ready[2];
    if (!ensure_release_pipe() || ::pipe2(ready, O_CLOEXEC) != 0) return std::nullopt;
    pid_t child = ::fork();
    if (child < 0) return std::nullopt;
    if (child == 0) {
      prepare_child();
      rlimit lim{};
      ::getrlimit(RLIMIT_NOFILE, &lim);
      lim.rlim_cur = lim.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &lim);
      for (int i = 0; i < pairs; ++i) {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) ::_exit(3);
      }
      signal_and_wait(ready[1], ::getpid(), 0);
    }
    pids_.push_back(child);
    ::close(ready[1]);
    std::int32_t got[2] = {0, 0};
    const bool ok = read_within(ready[0], got, 60000);
    ::close(ready[0]);
    if (!ok || got[0] != child) return std::nullopt;
    return child;
  }

private:
  bool ensure_release_pipe() { return release_[1] >= 0 || ::pipe2(release_, O_CLOEXEC) == 0; }

  void prepare_child() {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::alarm(120); // bounded even if the test hangs
    ::close(release_[1]);
  }

  [[noreturn]] void signal_and_wait(int ready_fd, std::int32_t a, std::int32_t b) {
    std::int32_t msg[2] = {a, b};
    if (::write(ready_fd, msg, sizeof msg) != sizeof msg) ::_exit(4);
    char c;
    while (::read(release_[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }

  [[noreturn]] void run_child(int ready_fd) {
    prepare_child();
    if (::unshare(CLONE_NEWNET) != 0) ::_exit(2);
    bring_loopback_up();
    if (!make_tcp_trio()) ::_exit(3);
    pid_t grandchild = ::fork();
    if (grandchild < 0) ::_exit(5);
    if (grandchild == 0) {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) ::_exit(3);
      // A thread with its own copy of the fd table (plus one socket only it has): neither the
      // copy nor that socket is in /proc/PID/fd, so neither backend may report them.
      int thread_ready[2];
      if (::pipe(thread_ready) != 0) ::_exit(6);
      std::thread own_table([fd = release_[0], done = thread_ready[1]] {
        int tsv[2];
        if (::unshare(CLONE_FILES) != 0 || ::socketpair(AF_UNIX, SOCK_STREAM, 0, tsv) != 0) {
          ::_exit(7);
        }
        (void)::write(done, "x", 1);
        char c;
        (void)::read(fd, &c, 1);
      });
      own_table.detach();
      char c;
      if (::read(thread_ready[0], &c, 1) != 1) ::_exit(8);
      signal_and_wait(ready_fd, ::getppid(), ::getpid()); // everything is in place now
    }
    ::close(ready_fd);
    char c;
    while (::read(release_[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::kill(grandchild, SIGKILL);
    ::waitpid(grandchild, nullptr, 0);
    ::_exit(0);
  }

  // One 8-byte readiness message {pid, pid}, or false after timeout_ms.
  static bool read_within(int fd, std::int32_t (&out)[2], int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
    return ::read(fd, out, sizeof out) == sizeof out;
  }

  int release_[2] = {-1, -1};
  std::vector<pid_t> pids_;
};

TEST(BpfOwnersLive, MatchesProcScanForForkedNetnsFamily) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  SocketHolders holders;
  auto family = holders.spawn_netns_family();
  ASSERT_TRUE(family) << "could not start the netns child (needs root for unshare)";
  const auto [child, grandchild] = *family;
  const std::vector<std::int32_t> pids = {::getpid(), child, grandchild};
  const std::set<std::int32_t> pid_set(pids.begin(), pids.end());

  SCAN_BPF_OR_SKIP(bpf);
  auto proc = scan_owners(core::FsRoot{}, OwnerScanOptions{});
  ASSERT_TRUE(proc) << proc.error().message;
  const core::OwnerTable& b = bpf->table;
  const auto truth = readlink_sockets(pids);

  // self: 2 (socketpair); child: 3 TCP; grandchild: the same 3 + its own 2.
  ASSERT_GE(truth.size(), 7u);
  std::size_t shared = 0;
  for (const auto& [inode, refs] : truth) {
    const RefList want(refs.begin(), refs.end());
    EXPECT_EQ(refs_of(b, inode, pid_set), want) << "inode " << inode << " (bpf vs readlink)";
    EXPECT_EQ(refs_of(*proc, inode, pid_set), want) << "inode " << inode << " (/proc vs readlink)";
    if (refs.size() == 2) ++shared;
  }
  EXPECT_EQ(shared, 3u) << "the TCP trio is shared by child and grandchild";

  for (std::int32_t pid : pids) {
    const core::ProcessInfo* pb = find_process(b, pid);
    const core::ProcessInfo* pp = find_process(*proc, pid);
    ASSERT_NE(pb, nullptr) << pid;
    ASSERT_NE(pp, nullptr) << pid;
    EXPECT_EQ(pb->comm, pp->comm);
    EXPECT_EQ(pb->cmdline, pp->cmdline);
    EXPECT_EQ(pb->uid, pp->uid);
    EXPECT_EQ(pb->cgroup, pp->cgroup);
    EXPECT_EQ(pb->fd_limit, pp->fd_limit);
    EXPECT_EQ(pb->netns_ino, pp->netns_ino);
    // Our own fd count moves while scanning (BPF object fds, the /proc scan's dirfds).
    if (pid != ::getpid()) {
      EXPECT_EQ(pb->fd_count, pp->fd_count) << pid;
    }
  }
  EXPECT_NE(find_process(b, child)->netns_ino, find_process(b, ::getpid())->netns_ino);
  EXPECT_EQ(b.denied, 0u);
  EXPECT_GE(bpf->stats.sockets_seen, 7u);
  EXPECT_GE(bpf->stats.processes_seen, 3u);
  ::close(sv[0]);
  ::close(sv[1]);
}

// Runs as pid 1 of a fresh pid namespace with its own /proc: "" if both backends agree, else why.
std::string check_inside_pid_namespace() {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount("proc", "/proc", "proc", 0, nullptr) != 0) {
    return "mount /proc in the new namespaces failed";
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return "socketpair failed";
  auto b = run_bpf_owner_scan(core::FsRoot{}, true);
  if (!b) return "bpf: " + b.error().message;
  auto p = scan_owners(core::FsRoot{}, OwnerScanOptions{});
  if (!p) return "/proc: " + p.error().message;
  const auto inode = readlink_sockets({::getpid()}).begin()->first;
  const RefList want = {{1, sv[0]}};
  if (b->stats.processes_seen != 1) {
    return "bpf iterated processes outside the namespace: " +
           std::to_string(b->stats.processes_seen);
  }
  if (b->table.processes().size() != 1) {
    return "bpf table has " + std::to_string(b->table.processes().size()) + " processes, " +
           std::to_string(b->table.vanished) + " vanished: pids not of this namespace?";
  }
  const auto& pb = b->table.processes()[0];
  const auto* pp = find_process(*p, 1);
  // fd counts are not compared: this process is the one scanning, its fds change meanwhile.
  if (pb.pid != 1 || pp == nullptr) return "bpf pid " + std::to_string(pb.pid) + ", not 1";
  if (refs_of(b->table, inode, {1}) != want) return "bpf references differ";
  if (refs_of(*p, inode, {1}) != want) return "/proc references differ";
  if (pb.comm != pp->comm || pb.netns_ino != pp->netns_ino) return "details differ";
  return "";
}

TEST(BpfOwnersLive, PidsAreThoseOfTheReadersPidNamespace) {
  SCAN_BPF_OR_SKIP(probe); // skip early where BPF cannot load at all
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::alarm(60);
    if (::unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) ::_exit(2);
    pid_t init = ::fork(); // pid 1 of the new namespace
    if (init == 0) {
      std::string why = check_inside_pid_namespace();
      (void)!::write(report[1], why.data(), why.size());
      ::_exit(why.empty() ? 0 : 1);
    }
    int status = 0;
    ::waitpid(init, &status, 0);
    ::_exit(init > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 3);
  }
  ::close(report[1]);
  std::string why;
  char buf[512];
  for (ssize_t n; (n = ::read(report[0], buf, sizeof buf)) > 0;)
    why.append(buf, n);
  ::close(report[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << why;
}

TEST(BpfOwnersLive, NoDuplicateReferencesAndOwnSocketsFound) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  std::thread sibling([] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); });
  SCAN_BPF_OR_SKIP(bpf);
  sibling.join();
  const auto truth = readlink_sockets({::getpid()});
  const std::set<std::int32_t> me = {::getpid()};
  for (int fd : sv) {
    char link[64];
    ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link, sizeof link - 1);
    ASSERT_GT(n, 0);
    auto ino = parse_socket_link(std::string_view(link, static_cast<std::size_t>(n)));
    ASSERT_TRUE(ino);
    EXPECT_EQ(refs_of(bpf->table, *ino, me), (RefList{{::getpid(), fd}}));
  }
  std::set<std::int32_t> pids;
  for (const auto& p : bpf->table.processes()) {
    EXPECT_TRUE(pids.insert(p.pid).second) << "process listed twice: " << p.pid;
  }
  EXPECT_TRUE(std::is_sorted(bpf->table.processes().begin(), bpf->table.processes().end(),
                             [](const auto& x, const auto& y) { return x.pid < y.pid; }));
  ::close(sv[0]);
  ::close(sv[1]);
}

// Opt-in measurement: SOCKDOCTOR_BPF_BENCH=<socket fds> (e.g. 200000).
TEST(BpfOwnersBench, BpfVersusProcScan) {
  const char* env = std::getenv("SOCKDOCTOR_BPF_BENCH");
  if (env == nullptr) GTEST_SKIP() << "set SOCKDOCTOR_BPF_BENCH=<socket fds> to measure";
  const long want = std::clamp(std::atol(env), 2L, 400000L);
  constexpr long kPerChild = 18000; // below the 20000 open-files hard limit
  SocketHolders holders;
  for (long made = 0; made < want;) {
    const long fds = std::min(kPerChild, want - made);
    ASSERT_TRUE(holders.spawn_socketpairs(static_cast<int>((fds + 1) / 2)));
    made += fds;
  }
  SCAN_BPF_OR_SKIP(warm);
  struct Sample {
    double wall_ms, cpu_ms; // cpu = user + sys of all our threads; the iterator runs as our sys
  };
  auto measure = [](auto&& fn) {
    auto cpu_ms = [] {
      rusage u{};
      ::getrusage(RUSAGE_SELF, &u);
      auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
      return ms(u.ru_utime) + ms(u.ru_stime);
    };
    const double cpu0 = cpu_ms();
    const auto start = std::chrono::steady_clock::now();
    fn();
    const std::chrono::duration<double, std::milli> wall = std::chrono::steady_clock::now() - start;
    return Sample{wall.count(), cpu_ms() - cpu0};
  };
  constexpr int kRuns = 5; // interleaved, so both see the same background load
  std::vector<Sample> bpf, proc;
  std::size_t bpf_refs = 0, proc_refs = 0;
  for (int run = 0; run < kRuns; ++run) {
    bpf.push_back(measure([&] {
      auto r = run_bpf_owner_scan(core::FsRoot{}, true);
      ASSERT_TRUE(r) << r.error().message;
      bpf_refs = r->table.reference_count();
      std::printf("bpf run %d: load %.1f ms, iterate %.1f ms, details %.1f ms (%zu holders)\n", run,
                  static_cast<double>(r->stats.load_us) / 1e3,
                  static_cast<double>(r->stats.iterate_us) / 1e3,
                  static_cast<double>(r->stats.details_us) / 1e3, r->table.processes().size());
    }));
    proc.push_back(measure([&] {
      auto r = scan_owners(core::FsRoot{}, OwnerScanOptions{});
      ASSERT_TRUE(r) << r.error().message;
      proc_refs = r->reference_count();
    }));
  }
  auto report = [](const char* name, std::vector<Sample> v) {
    auto median = [&v](double Sample::*field) {
      std::vector<double> x;
      for (const Sample& s : v)
        x.push_back(s.*field);
      std::sort(x.begin(), x.end());
      return std::make_pair(x[x.size() / 2], x.front());
    };
    const auto [wall, wall_min] = median(&Sample::wall_ms);
    const auto [cpu, cpu_min] = median(&Sample::cpu_ms);
    std::printf("%-6s wall median %7.1f ms (min %7.1f)  cpu median %7.1f ms (min %7.1f)\n", name,
                wall, wall_min, cpu, cpu_min);
  };
  std::printf("%ld socket fds held by children; references found: bpf %zu, /proc %zu\n", want,
              bpf_refs, proc_refs);
  report("bpf", bpf);
  report("/proc", proc);
  EXPECT_GE(bpf_refs, static_cast<std::size_t>(want));
  EXPECT_GE(proc_refs, static_cast<std::size_t>(want));
}

} // namespace
} // namespace sockdoctor::collect

namespace sockdoctor::collect {
namespace {

// The iterator stays loaded between scans (a daemon scans every few seconds): a second scan must
// count afresh, not on top of the first, and see the same sockets of this process.
TEST(BpfOwnerScanLive, SecondScanReusesTheLoadedProgramAndCountsAfresh) {
  SCAN_BPF_OR_SKIP(first);
  auto second = run_bpf_owner_scan(core::FsRoot{}, /*details=*/true);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_LT(second->stats.files_seen, first->stats.files_seen * 3 / 2 + 100)
      << "counters carried over from the first scan";
  EXPECT_GT(second->stats.files_seen, first->stats.files_seen / 2);
  const auto mine = [](const BpfOwnerScanResult& r) {
    std::size_t n = 0;
    for (const auto& p : r.table.processes())
      if (p.pid == ::getpid()) n = p.fd_count;
    return n;
  };
  EXPECT_EQ(mine(*first), mine(*second));
}

} // namespace
} // namespace sockdoctor::collect
