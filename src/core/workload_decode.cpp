// Cgroup v2 paths and kubelet log names decoded into workloads (see workload_decode.hpp).
#include "core/workload_decode.hpp"

#include <algorithm>
#include <array>

namespace sockdoctor::core {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_lower_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  return std::all_of(s.begin(), s.end(), pred);
}

bool hex_id(std::string_view s, std::size_t min_len) {
  return s.size() >= min_len && s.size() <= 64 && all_of(s, is_hex);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// A Kubernetes UID (hex and '-', or '_' in systemd slice names) or a static pod's hash.
bool pod_uid_text(std::string_view s) {
  return s.size() >= 8 && s.size() <= 64 &&
         all_of(s, [](char c) { return is_hex(c) || c == '-' || c == '_'; });
}

// systemd unit name characters (unit_name_is_valid: [A-Za-z0-9:_.\\@-]); everything else, escape
// sequences included, makes the component not a unit.
bool unit_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ':' ||
         c == '_' || c == '.' || c == '\\' || c == '@' || c == '-';
}

bool is_unit(std::string_view comp) {
  if (comp.size() > kMaxUnitName || !all_of(comp, unit_char)) return false;
  for (std::string_view suffix : {std::string_view(".service"), std::string_view(".scope")})
    if (comp.size() > suffix.size() && comp.ends_with(suffix)) return true;
  return false;
}

struct Container {
  std::string_view id;
  std::string_view runtime;
};

// "<prefix><id>[.scope]": the scopes of the systemd cgroup driver, and the same names without
// ".scope" under cgroupfs (crio-<id>, libpod-<id>). "crio-conmon-<id>" and "libpod-conmon-<id>"
// (the runtime's monitor) are not hex after the prefix, so not a container.
std::optional<Container> prefixed_container(std::string_view comp) {
  struct Pattern {
    std::string_view prefix, runtime;
    std::size_t min_len;
  };
  static constexpr std::array<Pattern, 4> kPatterns{{
      {"docker-", "docker", 64},
      {"cri-containerd-", "containerd", 12},
      {"crio-", "crio", 12},
      {"libpod-", "podman", 12},
  }};
  if (comp.ends_with(".scope")) comp.remove_suffix(6);
  for (const auto& p : kPatterns) {
    if (!comp.starts_with(p.prefix)) continue;
    std::string_view id = comp.substr(p.prefix.size());
    if (hex_id(id, p.min_len)) return Container{id, p.runtime};
  }
  return std::nullopt;
}

// "kubepods-burstable-pod<uid_>.slice", "kubepods-pod<uid_>.slice" (guaranteed), or cgroupfs
// "pod<uid>"; the UID with '-' restored.
std::optional<std::string> pod_uid_in(std::string_view comp) {
  std::string_view uid;
  if (comp.starts_with("kubepods") && comp.ends_with(".slice")) {
    comp.remove_suffix(6);
    const auto at = comp.rfind("-pod");
    if (at == std::string_view::npos) return std::nullopt;
    uid = comp.substr(at + 4);
  } else if (comp.starts_with("pod")) {
    uid = comp.substr(3);
  } else {
    return std::nullopt;
  }
  if (!pod_uid_text(uid)) return std::nullopt;
  std::string out = lower(uid);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

struct Decoder {
  Workload w;
  bool kube = false;      // under a kubepods slice or directory
  bool after_pod = false; // the previous component was a pod
  std::string_view prev;  // the previous component
  std::string_view unit;  // innermost unit so far

  void container(Container c) {
    w.container_id = lower(c.id);
    w.runtime = std::string(c.runtime);
    unit = {}; // the runtime's own service (containerd.service) holds the container; not it
  }

  void component(std::string_view comp) {
    const bool was_after_pod = after_pod;
    after_pod = false;
    if (comp.starts_with("kubepods")) kube = true;
    // runc without systemd, given a systemd-style path: "<pod slice>:<prefix>:<id>".
    if (const auto colon = comp.find(':');
        kube && colon != std::string_view::npos && comp.substr(0, colon).ends_with(".slice")) {
      const std::string_view rest = comp.substr(colon + 1);
      const auto colon2 = rest.find(':');
      if (auto uid = pod_uid_in(comp.substr(0, colon))) w.pod_uid = *uid;
      if (colon2 != std::string_view::npos) {
        const std::string joined = std::string(rest.substr(0, colon2)) + "-" +
                                   std::string(rest.substr(colon2 + 1)) + ".scope";
        if (auto c = prefixed_container(joined)) container(*c);
      }
      return;
    }
    if (auto c = prefixed_container(comp)) return container(*c);
    if (prev == "docker" && hex_id(comp, 64)) return container({comp, "docker"});
    if (was_after_pod && hex_id(comp, 64)) return container({comp, ""}); // kubelet cgroupfs
    if (kube) {
      if (auto uid = pod_uid_in(comp)) {
        w.pod_uid = *uid;
        after_pod = true;
        unit = {};
        return;
      }
    }
    if (is_unit(comp)) unit = comp;
  }
};

} // namespace

Workload decode_cgroup_path(std::string_view path) {
  Decoder d;
  if (path.size() > kMaxCgroupPath) return d.w;
  std::size_t depth = 0;
  while (!path.empty() && depth < kMaxCgroupDepth) {
    const auto slash = path.find('/');
    const std::string_view comp = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (comp.empty()) continue;
    ++depth;
    d.component(comp);
    d.prev = comp;
  }
  d.w.unit = std::string(d.unit);
  return d.w;
}

std::string short_container_id(std::string_view id) {
  return std::string(id.substr(0, kShortContainerId));
}

bool valid_container_name(std::string_view name) {
  return !name.empty() && name.size() <= 63 &&
         all_of(name, [](char c) { return is_lower_alnum(c) || c == '-'; });
}

std::optional<PodLogName> parse_pod_log_dir(std::string_view entry) {
  const auto a = entry.find('_');
  if (a == std::string_view::npos) return std::nullopt;
  const auto b = entry.find('_', a + 1);
  if (b == std::string_view::npos || entry.find('_', b + 1) != std::string_view::npos)
    return std::nullopt;
  PodLogName n{entry.substr(0, a), entry.substr(a + 1, b - a - 1), entry.substr(b + 1)};
  auto dns = [](std::string_view s, std::size_t max) {
    return !s.empty() && s.size() <= max &&
           all_of(s, [](char c) { return is_lower_alnum(c) || c == '-' || c == '.'; });
  };
  if (!dns(n.namespace_name, 63) || !dns(n.name, 253) || !pod_uid_text(n.uid) ||
      n.uid.find('_') != std::string_view::npos)
    return std::nullopt;
  return n;
}

std::optional<ContainerLogName> parse_container_log_name(std::string_view entry) {
  if (!entry.ends_with(".log") || entry.size() > 512) return std::nullopt;
  entry.remove_suffix(4);
  const auto dash = entry.rfind('-');
  if (dash == std::string_view::npos || !hex_id(entry.substr(dash + 1), 64)) return std::nullopt;
  const std::string_view id = entry.substr(dash + 1);
  const std::string_view rest = entry.substr(0, dash);
  const auto a = rest.find('_');
  const auto b = a == std::string_view::npos ? a : rest.find('_', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  ContainerLogName n{rest.substr(0, a), rest.substr(a + 1, b - a - 1), rest.substr(b + 1), id};
  if (n.pod.empty() || n.namespace_name.empty() || !valid_container_name(n.container))
    return std::nullopt;
  return n;
}

void name_pod(Workload& w, const PodTable& pods) {
  if (w.pod_uid.empty()) return;
  const auto it = pods.by_uid.find(w.pod_uid);
  if (it == pods.by_uid.end()) return;
  w.pod_name = it->second.name;
  w.pod_namespace = it->second.namespace_name;
  if (!w.container_id.empty())
    if (auto c = pods.container_names.find(w.container_id); c != pods.container_names.end()) {
      w.container_name = c->second;
      return;
    }
  // One container: no other it could be (the sandbox's pause process holds no TCP sockets).
  if (it->second.containers.size() == 1 && !w.container_id.empty())
    w.container_name = it->second.containers.front();
}

} // namespace sockdoctor::core
