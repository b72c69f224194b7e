// What a process or socket belongs to beyond its pid, read from its cgroup v2 path: a systemd
// unit, a container (and its runtime), a Kubernetes pod. Labels for `serve` and columns for
// `check`/`ls`; never a pid, port or address (bounded cardinality).
#pragma once

#include <string>

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

} // namespace sockdoctor::core
