// What names the workloads of a sample, read from the host: the cgroup v2 hierarchy (cgroup id ->
// path, for orphaned sockets that no process holds) and the kubelet's pod log directories (pod
// names without an API server). Both cached between samples and read again only on a miss.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/sample.hpp"
#include "core/workload.hpp"

namespace sockdoctor::collect {

struct WalkLimits {
  std::size_t max_cgroups = 100000; // directories indexed; a walk stops there
  std::size_t max_depth = 64;
};

// The cgroup2 hierarchy under root.sys: <sys>/fs/cgroup when it is cgroup2 (unified mode), else
// <sys>/fs/cgroup/unified (hybrid mode). In a recorded tree (not a cgroup2 mount) the first of
// the two that exists. "" when there is none.
std::string cgroup2_mount(const core::FsRoot& root);

// cgroup id -> path ("/system.slice/x.service") of every directory under `mount`. On cgroup2 a
// cgroup's id is the inode number of its directory (kernfs), which readdir reports as d_ino.
core::Result<std::unordered_map<std::uint64_t, std::string>> walk_cgroups(const std::string& mount,
                                                                          const WalkLimits& lim);

// The pods under root.pods_log and the container names under its sibling "containers"; entries
// with invalid names are skipped. Bounded: `max_pods` pods, 64 containers each.
core::Result<core::PodTable> read_pod_table(const core::FsRoot& root, std::size_t max_pods = 4096);

// Kept by the sampler between samples: walks the cgroup hierarchy when a socket carries an id it
// does not know (once per id: an id still unknown after a walk is a cgroup already removed), and
// reads the pod directories when a process or cgroup names a pod UID or container it has not seen.
class WorkloadCache {
public:
  explicit WorkloadCache(core::FsRoot root, WalkLimits limits = {});

  // Fills snap.workloads for the sockets and processes of `snap` and the closers the register
  // recorded (`traced`, may be nullptr: their cgroup ids); the status says what was read.
  core::CollectorStatus
  fill(core::Snapshot& snap, const core::TracedView* traced, bool cgroups, bool pods);

  std::size_t walks() const { return walks_; }
  std::size_t pod_reads() const { return pod_reads_; }

private:
  void resolve_ids(const std::vector<std::uint64_t>& ids,
                   std::unordered_map<std::uint64_t, std::string>& out,
                   core::CollectorStatus& s);
  void refresh_pods(core::Snapshot& snap, core::CollectorStatus& s);

  core::FsRoot root_;
  WalkLimits limits_;
  std::string mount_; // found on first use
  bool mount_looked_up_ = false;
  std::unordered_map<std::uint64_t, std::string> paths_;
  std::unordered_set<std::uint64_t> gone_; // ids not found by the last walk
  std::shared_ptr<const core::PodTable> pods_;
  std::unordered_set<std::string> unknown_pods_; // UIDs and container ids the last read lacked
  std::size_t walks_ = 0, pod_reads_ = 0;
};

} // namespace sockdoctor::collect
