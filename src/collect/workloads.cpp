// The cgroup v2 walk (id -> path) and the kubelet's pod log directories, cached between samples.
#include "collect/workloads.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include <dirent.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <fmt/format.h>

#include "core/workload_decode.hpp"

namespace sockdoctor::collect {
namespace {

constexpr long kCgroup2Magic = 0x63677270; // CGROUP2_SUPER_MAGIC (linux/magic.h)
constexpr std::size_t kMaxUnknown = 4096;  // negative caches are forgotten beyond this
constexpr std::size_t kMaxContainersPerPod = 64;
constexpr std::size_t kMaxContainerLogs = 65536;

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

bool is_dot(const char* n) {
  return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

// Names of the directory's subdirectories (or of every entry when `dirs_only` is false), at most
// `max`. d_type is DT_UNKNOWN on some filesystems: then lstat says.
std::vector<std::string> entries(const std::string& dir, bool dirs_only, std::size_t max) {
  std::vector<std::string> out;
  DirPtr d(::opendir(dir.c_str()));
  if (!d) return out;
  while (const dirent* e = ::readdir(d.get())) {
    if (is_dot(e->d_name)) continue;
    if (dirs_only && e->d_type != DT_DIR) {
      struct stat st {};
      if (e->d_type != DT_UNKNOWN ||
          ::lstat(core::FsRoot::join(dir, e->d_name).c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        continue;
    }
    if (out.size() >= max) break;
    out.emplace_back(e->d_name);
  }
  return out;
}

bool is_cgroup2(const std::string& path) {
  struct statfs fs {};
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == kCgroup2Magic;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

} // namespace

std::string cgroup2_mount(const core::FsRoot& root) {
  const std::string unified = root.sys_path("fs/cgroup");
  const std::string hybrid = root.sys_path("fs/cgroup/unified");
  if (is_cgroup2(unified)) return unified;
  if (is_cgroup2(hybrid)) return hybrid;
  if (root.sys == "/sys") return {}; // live, and no cgroup2 mounted where systemd puts it
  if (is_dir(hybrid)) return hybrid;
  return is_dir(unified) ? unified : std::string();
}

core::Result<std::unordered_map<std::uint64_t, std::string>> walk_cgroups(const std::string& mount,
                                                                          const WalkLimits& lim) {
  std::unordered_map<std::uint64_t, std::string> out;
  struct stat st {};
  if (::stat(mount.c_str(), &st) != 0) {
    const int e = errno;
    return core::fail("cgroup walk: " + mount + ": " + std::strerror(e), e);
  }
  out.emplace(st.st_ino, "/");
  struct Pending {
    std::string rel; // "" for the root, else "/a/b"
    std::size_t depth;
  };
  std::vector<Pending> stack{{"", 0}};
  while (!stack.empty() && out.size() < lim.max_cgroups) {
    Pending dir = std::move(stack.back());
    stack.pop_back();
    DirPtr d(::opendir((mount + dir.rel).c_str()));
    if (!d) continue; // removed since it was listed, or not ours to read
    while (const dirent* e = ::readdir(d.get())) {
      if (is_dot(e->d_name) || e->d_type != DT_DIR) continue; // cgroupfs reports d_type
      std::string rel = dir.rel + "/" + e->d_name;
      out.emplace(static_cast<std::uint64_t>(e->d_ino), rel);
      if (out.size() >= lim.max_cgroups) break;
      if (dir.depth + 1 < lim.max_depth) stack.push_back({std::move(rel), dir.depth + 1});
    }
  }
  return out;
}

core::Result<core::PodTable> read_pod_table(const core::FsRoot& root, std::size_t max_pods) {
  core::PodTable table;
  DirPtr probe(::opendir(root.pods_log.c_str()));
  if (!probe) {
    const int e = errno;
    return core::fail("pods: " + root.pods_log + ": " + std::strerror(e), e);
  }
  probe.reset();
  for (const auto& entry : entries(root.pods_log, true, max_pods)) {
    const auto name = core::parse_pod_log_dir(entry);
    if (!name) continue;
    core::PodLog pod{std::string(name->namespace_name), std::string(name->name), {}};
    for (auto& c : entries(core::FsRoot::join(root.pods_log, entry), true, kMaxContainersPerPod))
      if (core::valid_container_name(c)) pod.containers.push_back(std::move(c));
    std::sort(pod.containers.begin(), pod.containers.end());
    table.by_uid.emplace(std::string(name->uid), std::move(pod));
  }
  std::string_view base = root.pods_log;
  while (base.size() > 1 && base.back() == '/')
    base.remove_suffix(1);
  const auto slash = base.rfind('/');
  const std::string containers = core::FsRoot::join(
      slash == std::string_view::npos ? "." : base.substr(0, slash + 1), "containers");
  for (const auto& entry : entries(containers, false, kMaxContainerLogs))
    if (auto n = core::parse_container_log_name(entry))
      table.container_names.emplace(std::string(n->id), std::string(n->container));
  return table;
}

WorkloadCache::WorkloadCache(core::FsRoot root, WalkLimits limits)
    : root_(std::move(root)), limits_(limits) {}

void WorkloadCache::resolve_ids(const std::vector<std::uint64_t>& ids,
                                std::unordered_map<std::uint64_t, std::string>& out,
                                core::CollectorStatus& s) {
  const bool miss = std::any_of(ids.begin(), ids.end(), [this](std::uint64_t id) {
    return !paths_.contains(id) && !gone_.contains(id);
  });
  if (miss) {
    if (gone_.size() > kMaxUnknown) gone_.clear();
    if (!mount_looked_up_) {
      mount_ = cgroup2_mount(root_);
      mount_looked_up_ = true;
    }
    if (mount_.empty()) {
      s.notes.push_back("no cgroup2 hierarchy under " + root_.sys_path("fs/cgroup") +
                        ": orphaned sockets are not attributed");
      gone_.insert(ids.begin(), ids.end()); // said once per id, not every sample
    } else if (auto walked = walk_cgroups(mount_, limits_)) {
      paths_ = std::move(*walked);
      ++walks_;
      if (paths_.size() >= limits_.max_cgroups)
        s.notes.push_back(fmt::format("cgroup walk stopped at {} cgroups", paths_.size()));
      for (auto id : ids)
        if (!paths_.contains(id)) gone_.insert(id);
    } else {
      s.success = false;
      s.error = walked.error();
      s.notes.push_back(walked.error().message);
      gone_.insert(ids.begin(), ids.end()); // not tried again every sample
    }
  }
  for (auto id : ids)
    if (auto it = paths_.find(id); it != paths_.end()) out.emplace(id, it->second);
}

// Pod UIDs and container ids the decoded cgroup paths name; the pod table is read again when one
// of them is new.
void WorkloadCache::refresh_pods(core::Snapshot& snap, core::CollectorStatus& s) {
  std::vector<std::string> wanted;
  auto want = [&](std::string_view path) {
    const core::Workload w = core::decode_cgroup_path(path);
    if (w.pod_uid.empty()) return;
    const bool known_pod = pods_ && pods_->by_uid.contains(w.pod_uid);
    const bool known_container =
        w.container_id.empty() || (pods_ && pods_->container_names.contains(w.container_id));
    if (!known_pod && !unknown_pods_.contains(w.pod_uid)) wanted.push_back(w.pod_uid);
    if (!known_container && !unknown_pods_.contains(w.container_id))
      wanted.push_back(w.container_id);
  };
  const auto& procs = snap.owners.processes();
  for (const auto& p : procs)
    if (p.cgroup.find("kubepods") != std::string::npos) want(p.cgroup);
  for (const auto& [id, path] : snap.workloads.cgroup_paths)
    if (path.find("kubepods") != std::string::npos) want(path);
  bool any_pod = !wanted.empty() || pods_ != nullptr;
  if (!wanted.empty()) {
    auto table = read_pod_table(root_);
    ++pod_reads_;
    if (table) {
      pods_ = std::make_shared<const core::PodTable>(std::move(*table));
    } else if (table.error().sys_errno != ENOENT) {
      s.notes.push_back(table.error().message);
    }
    if (unknown_pods_.size() > kMaxUnknown) unknown_pods_.clear();
    for (auto& w : wanted)
      if (!pods_ || (!pods_->by_uid.contains(w) && !pods_->container_names.contains(w)))
        unknown_pods_.insert(std::move(w));
  }
  if (any_pod) snap.workloads.pods = pods_;
}

core::CollectorStatus
WorkloadCache::fill(core::Snapshot& snap, const core::TracedView* traced, bool cgroups, bool pods) {
  const auto start = std::chrono::steady_clock::now();
  core::CollectorStatus s;
  s.name = "workloads";
  s.source = "cgroup";
  s.success = true;
  if (cgroups) {
    std::vector<std::uint64_t> ids;
    for (const auto& sock : snap.sockets)
      if (sock.inode == 0 && sock.cgroup_id != 0) ids.push_back(sock.cgroup_id);
    if (traced != nullptr) // the closers of TIME_WAIT entries, which carry no cgroup id
      for (const auto& [cookie, e] : traced->by_cookie)
        if (e.owner.known() && e.owner.cgroup_id != 0) ids.push_back(e.owner.cgroup_id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (!ids.empty()) resolve_ids(ids, snap.workloads.cgroup_paths, s);
  }
  if (pods) refresh_pods(snap, s);
  s.items = snap.workloads.cgroup_paths.size();
  s.duration_seconds = seconds_since(start);
  return s;
}

} // namespace sockdoctor::collect
