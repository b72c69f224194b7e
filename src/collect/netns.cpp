// Discovery of network namespaces: bind mounts under /run/netns plus the ns/net of every process.
#include "collect/netns.hpp"

#include "collect/fs_read.hpp"
#include "collect/proc_owners.hpp"
#include "collect/unique_fd.hpp"
#include "core/parse.hpp"
#include "core/workload_decode.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace sockdoctor::collect {

namespace {

constexpr long kNsfsMagic = 0x6e736673; // NSFS_MAGIC (linux/magic.h)

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::optional<std::int32_t> parse_pid(std::string_view name) {
  auto pid = core::parse_number<std::int32_t>(name);
  if (!pid || *pid <= 0) return std::nullopt;
  return pid;
}

// Names under /run/netns that are live nsfs bind mounts. `ip netns add` that failed half-way
// leaves a plain empty file there, whose inode would be meaningless.
void add_named(const std::string& dir_path, std::map<std::uint32_t, NetnsEntry>& found) {
  DirPtr dir(::opendir(dir_path.c_str()));
  if (!dir) return;
  std::vector<std::string> names;
  while (const dirent* d = ::readdir(dir.get())) {
    std::string_view name = d->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string path = core::FsRoot::join(dir_path, name);
    struct statfs fs {};
    struct stat st {};
    if (::statfs(path.c_str(), &fs) != 0 || fs.f_type != kNsfsMagic) continue;
    if (::stat(path.c_str(), &st) != 0) continue;
    auto& entry = found[static_cast<std::uint32_t>(st.st_ino)];
    if (!entry.name.empty()) continue; // several names for one netns: keep the first
    entry.inode = static_cast<std::uint32_t>(st.st_ino);
    entry.name = name;
    entry.path = path;
  }
}

} // namespace

std::optional<std::uint32_t> parse_netns_link(std::string_view link) {
  constexpr std::string_view kPrefix = "net:[";
  if (!link.starts_with(kPrefix) || !link.ends_with(']')) return std::nullopt;
  std::string_view digits = link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1);
  std::uint32_t ino = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ino);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
    return std::nullopt;
  return ino;
}

std::uint32_t netns_inode_at(int dirfd, const char* rel_path) {
  struct stat st {};
  if (::fstatat(dirfd, rel_path, &st, 0) == 0) return static_cast<std::uint32_t>(st.st_ino);
  if (errno != ENOENT) return 0; // EACCES: another user's process, the link is denied too
  char link[64];
  ssize_t n = ::readlinkat(dirfd, rel_path, link, sizeof link);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof link) return 0;
  return parse_netns_link(std::string_view(link, static_cast<std::size_t>(n))).value_or(0);
}

std::uint32_t current_netns_inode(const core::FsRoot& root) {
  return netns_inode_at(AT_FDCWD, root.proc_path("self/ns/net").c_str());
}

core::Result<std::vector<NetnsEntry>> discover_netns(const core::FsRoot& root) {
  DirPtr proc(::opendir(root.proc.c_str()));
  if (!proc) {
    int e = errno;
    return core::fail("netns discovery: " + root.proc + ": " + std::strerror(e), e);
  }
  std::map<std::uint32_t, NetnsEntry> found;
  add_named(root.run_netns, found);

  std::vector<std::int32_t> pids;
  for (;;) {
    errno = 0; // readdir signals errors only through errno
    const dirent* d = ::readdir(proc.get());
    if (d == nullptr) break;
    if (auto pid = parse_pid(d->d_name)) pids.push_back(*pid);
  }
  if (errno != 0) {
    int e = errno;
    return core::fail("netns discovery: " + root.proc + ": readdir: " + std::strerror(e), e);
  }
  std::sort(pids.begin(), pids.end());
  const int proc_fd = ::dirfd(proc.get());
  char rel[32];
  for (std::int32_t pid : pids) {
    std::snprintf(rel, sizeof rel, "%d/ns/net", pid);
    std::uint32_t ino = netns_inode_at(proc_fd, rel);
    if (ino == 0) continue; // exited, or not ours to inspect
    auto& entry = found[ino];
    entry.inode = ino;
    if (entry.some_pid != 0) continue;
    entry.some_pid = pid;
    if (entry.path.empty()) entry.path = root.proc_path(rel);
  }

  std::vector<NetnsEntry> out;
  out.reserve(found.size());
  for (auto& [ino, entry] : found) {
    if (entry.some_pid != 0) {
      auto cgroup = read_file(root.proc_path(std::to_string(entry.some_pid) + "/cgroup"));
      if (cgroup)
        entry.container_id = core::short_container_id(
            core::decode_cgroup_path(parse_cgroup_path(*cgroup)).container_id);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

core::Result<void> run_in_netns(const std::string& path, const std::function<void()>& fn) {
  core::Result<void> result;
  std::thread worker([&] {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      const int e = errno;
      result = core::fail(path + ": " + std::strerror(e), e);
      return;
    }
    if (::setns(fd.get(), CLONE_NEWNET) != 0) {
      const int e = errno;
      result = core::fail("setns " + path + ": " + std::strerror(e), e);
      return;
    }
    fn();
  });
  worker.join();
  return result;
}

core::Result<NetnsEntry> resolve_netns(const core::FsRoot& root, const std::string& name_or_path) {
  NetnsEntry entry;
  const bool is_path = name_or_path.find('/') != std::string::npos;
  entry.path = is_path ? name_or_path : core::FsRoot::join(root.run_netns, name_or_path);
  if (!is_path) entry.name = name_or_path;
  struct stat st {};
  if (::stat(entry.path.c_str(), &st) != 0) {
    const int e = errno;
    return core::fail(entry.path + ": " + std::strerror(e), e);
  }
  struct statfs fs {};
  if (::statfs(entry.path.c_str(), &fs) != 0 || fs.f_type != kNsfsMagic)
    return core::fail(core::ErrorCode::Usage, entry.path + ": not a network namespace");
  entry.inode = static_cast<std::uint32_t>(st.st_ino);
  return entry;
}

} // namespace sockdoctor::collect
