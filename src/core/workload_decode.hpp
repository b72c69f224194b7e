// The one decoder of cgroup v2 paths (systemd units, containers, Kubernetes pods) and of the
// kubelet's log names; pure (string_view in, values out), bounded and total on hostile input:
// names in cgroup paths can be chosen by unprivileged users with a delegated subtree.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/workload.hpp"

namespace sockdoctor::core {

inline constexpr std::size_t kMaxCgroupPath = 4096;  // PATH_MAX: longer input decodes to nothing
inline constexpr std::size_t kMaxCgroupDepth = 64;   // components looked at
inline constexpr std::size_t kMaxUnitName = 255;     // systemd's UNIT_NAME_MAX
inline constexpr std::size_t kShortContainerId = 12; // what `docker ps` and `crictl ps` show

// "/system.slice/nginx.service" -> unit "nginx.service"; "/system.slice/docker-<64hex>.scope" ->
// container (docker); "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with
// _>.slice/cri-containerd-<id>.scope" -> pod UID and container (containerd); cgroupfs drivers
// ("/docker/<id>", "/kubepods/burstable/pod<uid>/<id>") too. The innermost container wins
// (docker-in-docker); a unit outside the container or pod (the runtime's own service) is not
// reported, one inside it is. Pod name, namespace and container name stay empty (the cgroup
// path does not hold them; see name_pod).
Workload decode_cgroup_path(std::string_view path);

// First 12 hex digits of a container id.
std::string short_container_id(std::string_view id);

// "NAMESPACE_NAME_UID" (a /var/log/pods entry) -> its parts; nullopt unless all three are valid
// Kubernetes names (no '_' can occur in any of them).
struct PodLogName {
  std::string_view namespace_name, name, uid;
};
std::optional<PodLogName> parse_pod_log_dir(std::string_view entry);

// A container name (DNS label: [a-z0-9-], at most 63).
bool valid_container_name(std::string_view name);

// "POD_NAMESPACE_CONTAINER-<64hex>.log" (a /var/log/containers entry) -> its parts.
struct ContainerLogName {
  std::string_view pod, namespace_name, container, id;
};
std::optional<ContainerLogName> parse_container_log_name(std::string_view entry);

// Adds pod name, namespace and container name from the kubelet's log directories to a decoded
// workload (unchanged when its pod is not in `pods`). The container's name comes from
// /var/log/containers by id, else from the pod's only container directory.
void name_pod(Workload& w, const PodTable& pods);

} // namespace sockdoctor::core
