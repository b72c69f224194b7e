// Netns discovery: a recorded /proc tree (names and container ids), and a live named netns.
#include "collect/netns.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sd = sockdoctor;
using sd::collect::NetnsEntry;

namespace {

const std::string kBasic = std::string(SOCKDOCTOR_FIXTURES) + "/proc/basic";
const std::string kHex64 = "4f2a9c1b7d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

const NetnsEntry* find_inode(const std::vector<NetnsEntry>& v, std::uint32_t inode) {
  auto it = std::find_if(v.begin(), v.end(), [&](const NetnsEntry& e) { return e.inode == inode; });
  return it == v.end() ? nullptr : &*it;
}

std::uint32_t stat_inode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint32_t>(st.st_ino);
}

int run(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

// `ip netns add` for the test's lifetime; deleted on every exit path.
class NamedNetns {
public:
  explicit NamedNetns(std::string name) : name_(std::move(name)) {
    ok_ = run("ip netns add " + name_) == 0;
  }
  ~NamedNetns() {
    if (ok_) run("ip netns del " + name_);
  }
  NamedNetns(const NamedNetns&) = delete;
  NamedNetns& operator=(const NamedNetns&) = delete;
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }

private:
  std::string name_;
  bool ok_ = false;
};

// A child that joins a netns and waits until it is killed; killed and reaped by pid.
class ChildInNetns {
public:
  explicit ChildInNetns(const std::string& ns_path) {
    int ready[2];
    if (::pipe(ready) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      int fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
      char ok = (fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0) ? 1 : 0;
      if (::write(ready[1], &ok, 1) != 1 || !ok) ::_exit(1);
      for (int i = 0; i < 600; ++i)
        ::sleep(1); // bounded: at most 10 minutes
      ::_exit(0);
    }
    ::close(ready[1]);
    char ok = 0;
    joined_ = pid_ > 0 && ::read(ready[0], &ok, 1) == 1 && ok == 1;
    ::close(ready[0]);
  }
  ~ChildInNetns() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ChildInNetns(const ChildInNetns&) = delete;
  ChildInNetns& operator=(const ChildInNetns&) = delete;
  bool joined() const { return joined_; }
  pid_t pid() const { return pid_; }

private:
  pid_t pid_ = -1;
  bool joined_ = false;
};

} // namespace

TEST(NetnsLink, Parse) {
  EXPECT_EQ(sd::collect::parse_netns_link("net:[4026531840]"), 4026531840u);
  EXPECT_FALSE(sd::collect::parse_netns_link("mnt:[4026531840]"));
  EXPECT_FALSE(sd::collect::parse_netns_link("net:[]"));
  EXPECT_FALSE(sd::collect::parse_netns_link("net:[40265318400]"));
}

TEST(DiscoverNetns, FixtureTree) {
  sd::core::FsRoot root;
  root.proc = kBasic;
  root.run_netns = kBasic + "/no-such-run-netns";
  auto found = sd::collect::discover_netns(root);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->size(), 2u);
  const auto& host = (*found)[0];
  EXPECT_EQ(host.inode, 4026531840u);
  EXPECT_EQ(host.name, "");
  EXPECT_EQ(host.some_pid, 1);
  EXPECT_EQ(host.path, kBasic + "/1/ns/net");
  EXPECT_EQ(host.container_id, "");
  const auto& web = (*found)[1];
  EXPECT_EQ(web.inode, 4026532100u);
  EXPECT_EQ(web.some_pid, 100);
  EXPECT_EQ(web.path, kBasic + "/100/ns/net");
  EXPECT_EQ(web.container_id, kHex64.substr(0, 12));
  // "self" in the fixture links to 100.
  EXPECT_EQ(sd::collect::current_netns_inode(root), 4026532100u);
}

TEST(DiscoverNetns, StaleRunNetnsFileIsSkipped) {
  // A failed `ip netns add` leaves a plain file: it is no namespace.
  const auto dir =
      std::filesystem::temp_directory_path() / ("sd-owners-netns-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "stale").put('x');
  sd::core::FsRoot root;
  root.proc = kBasic;
  root.run_netns = dir.string();
  auto found = sd::collect::discover_netns(root);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->size(), 2u);
  for (const auto& e : *found)
    EXPECT_EQ(e.name, "");
}

TEST(DiscoverNetns, MissingProcIsAnError) {
  sd::core::FsRoot root;
  root.proc = kBasic + "/nope";
  auto found = sd::collect::discover_netns(root);
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().message.find("/nope"), std::string::npos);
}

TEST(DiscoverNetnsLive, CurrentNetns) {
  const std::uint32_t self = sd::collect::current_netns_inode(sd::core::FsRoot{});
  EXPECT_NE(self, 0u);
  EXPECT_EQ(self, stat_inode("/proc/self/ns/net"));
  auto found = sd::collect::discover_netns(sd::core::FsRoot{});
  ASSERT_TRUE(found) << found.error().message;
  const NetnsEntry* mine = find_inode(*found, self);
  ASSERT_NE(mine, nullptr);
  EXPECT_GT(mine->some_pid, 0);
  EXPECT_LE(mine->some_pid, ::getpid()); // the lowest pid in it
}

TEST(DiscoverNetnsLive, NamedNetnsWithAProcessInIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "ip netns add needs root";
  NamedNetns ns("sd-owners-" + std::to_string(::getpid()));
  if (!ns.ok()) GTEST_SKIP() << "ip netns add failed (no ip, or no permission to mount)";
  const std::string path = "/run/netns/" + ns.name();
  const std::uint32_t inode = stat_inode(path);
  ASSERT_NE(inode, 0u);
  ChildInNetns child(path);
  ASSERT_TRUE(child.joined());

  auto found = sd::collect::discover_netns(sd::core::FsRoot{});
  ASSERT_TRUE(found) << found.error().message;
  const NetnsEntry* e = find_inode(*found, inode);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, ns.name());
  EXPECT_EQ(e->path, path); // the named path is preferred: stable for setns
  EXPECT_EQ(e->some_pid, child.pid());
  EXPECT_TRUE(std::is_sorted(found->begin(), found->end(),
                             [](const auto& a, const auto& b) { return a.inode < b.inode; }));
}
