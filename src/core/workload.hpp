// What a process or socket belongs to beyond its pid, read from its cgroup v2 path: a systemd
// unit, a container (and its runtime), a Kubernetes pod. Labels for `serve` and columns for
// `check`/`ls`; never a pid, port or address (bounded cardinality). Also the raw material the
// sampler gathers to name them: cgroup paths of orphaned sockets' cgroup ids, and the kubelet's
// pod log directory names.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sockdoctor::core {

struct Workload {
  std::string unit;           // systemd unit, "nginx.service" ("" when none)
  std::string container_id;   // full container id (hex), "" when not in a container
  std::string runtime;        // "docker", "containerd", "crio", "podman", ""
  std::string pod_uid;        // Kubernetes pod UID from the cgroup path, ""
  std::string pod_name;       // from /var/log/pods/NAMESPACE_NAME_UID, "" when unknown
  std::string pod_namespace;  // likewise
  std::string container_name; // the container's name in its pod, "" when unknown

  bool empty() const { return unit.empty() && container_id.empty() && pod_uid.empty(); }
  bool operator==(const Workload&) const = default;
};

// One pod the kubelet keeps logs for: /var/log/pods/NAMESPACE_NAME_UID/CONTAINER/.
struct PodLog {
  std::string namespace_name;
  std::string name;
  std::vector<std::string> containers; // sorted
};

// What /var/log/pods (and /var/log/containers beside it) say about the pods of this node.
struct PodTable {
  std::unordered_map<std::string, PodLog> by_uid;               // pod UID -> pod
  std::unordered_map<std::string, std::string> container_names; // container id -> its name
};

// What a sample carries to name workloads: the cgroup path of each cgroup id that orphaned
// sockets (no fd, no process) carry, and the pods. Processes carry their own cgroup path.
struct WorkloadSources {
  std::unordered_map<std::uint64_t, std::string> cgroup_paths; // id -> "/system.slice/x.service"
  std::shared_ptr<const PodTable> pods; // nullptr: no pod was looked up (none on this host)
};

} // namespace sockdoctor::core
