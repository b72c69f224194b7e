// Workloads of processes and orphaned sockets: the cgroup path decoded, then the pod named.
#include "analyze/workload.hpp"

#include "core/workload_decode.hpp"

namespace sockdoctor::analyze {

namespace {
constexpr std::size_t kMaxCached = 65536; // distinct cgroup paths kept decoded
} // namespace

core::Workload WorkloadResolver::of_path(std::string_view cgroup_path) const {
  if (cgroup_path.empty()) return {};
  if (auto it = cache_.find(std::string(cgroup_path)); it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxCached) cache_.clear();
  core::Workload w = core::decode_cgroup_path(cgroup_path);
  if (sources_.pods) core::name_pod(w, *sources_.pods);
  return cache_.emplace(std::string(cgroup_path), std::move(w)).first->second;
}

core::Workload WorkloadResolver::of_cgroup_id(std::uint64_t id) const {
  if (id == 0) return {};
  auto it = sources_.cgroup_paths.find(id);
  return it == sources_.cgroup_paths.end() ? core::Workload{} : of_path(it->second);
}

WorkloadTable workload_table(const core::Snapshot& snap, const WorkloadResolver& resolver) {
  WorkloadTable t;
  const auto& procs = snap.owners.processes();
  t.processes.reserve(procs.size());
  for (const auto& p : procs)
    t.processes.push_back(resolver.of_process(p));
  for (const auto& [id, path] : snap.workloads.cgroup_paths)
    if (auto w = resolver.of_path(path); !w.empty()) t.cgroups.emplace(id, std::move(w));
  return t;
}

std::string workload_key(const core::Workload& w) {
  if (w.empty()) return {};
  std::string k;
  for (const std::string* f : {&w.unit, &w.container_id, &w.runtime, &w.pod_uid, &w.pod_name,
                               &w.pod_namespace, &w.container_name}) {
    k += *f;
    k += '\x1f';
  }
  return k;
}

} // namespace sockdoctor::analyze
