// Names the workload (systemd unit, container, Kubernetes pod) of a process from its cgroup path,
// and of an orphaned socket (no fd, no process) from its cgroup id, with the pod names the sample
// carries. Pure: everything comes from the snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/owner.hpp"
#include "core/snapshot.hpp"
#include "core/workload.hpp"

namespace sockdoctor::analyze {

class WorkloadResolver {
public:
  explicit WorkloadResolver(const core::WorkloadSources& sources) : sources_(sources) {}

  // Decoded once per distinct path (processes of one service share it). By value: the cache is
  // bounded and may be dropped on any call.
  core::Workload of_path(std::string_view cgroup_path) const;
  core::Workload of_process(const core::ProcessInfo& p) const { return of_path(p.cgroup); }
  // The workload of the cgroup an orphaned socket was created in; empty when its path is unknown
  // (TIME_WAIT carries no id; the cgroup may be gone).
  core::Workload of_cgroup_id(std::uint64_t id) const;
  // Of a socket without an fd: its cgroup's. Sockets with an fd are named by their holder.
  core::Workload of_orphan(const core::TcpSocket& s) const {
    return s.inode == 0 ? of_cgroup_id(s.cgroup_id) : core::Workload{};
  }

private:
  const core::WorkloadSources& sources_;
  mutable std::unordered_map<std::string, core::Workload> cache_;
};

// One workload per process of the owner table and per cgroup id of the orphaned sockets, for
// renderers (ls --json) that look one up per socket.
struct WorkloadTable {
  std::vector<core::Workload> processes;                     // parallel to owners.processes()
  std::unordered_map<std::uint64_t, core::Workload> cgroups; // orphans' cgroup id -> workload

  const core::Workload* process(std::uint32_t index) const {
    return index < processes.size() && !processes[index].empty() ? &processes[index] : nullptr;
  }
  const core::Workload* cgroup(std::uint64_t id) const {
    auto it = id == 0 ? cgroups.end() : cgroups.find(id);
    return it == cgroups.end() ? nullptr : &it->second;
  }
};

WorkloadTable workload_table(const core::Snapshot& snap, const WorkloadResolver& resolver);

// A stable key for grouping by workload ("" for none).
std::string workload_key(const core::Workload& w);

} // namespace sockdoctor::analyze
