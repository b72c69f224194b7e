// The one place filesystem paths under /proc, /sys and /var/log/pods are built, so a recorded tree
// is a fixture.
#pragma once

#include <string>
#include <string_view>

namespace sockdoctor::core {

struct FsRoot {
  std::string proc = "/proc";
  std::string sys = "/sys";
  std::string run_netns = "/run/netns";
  // The kubelet's pod log directories (NAMESPACE_NAME_UID/CONTAINER/); pod names without an API
  // server. Its sibling "containers" holds POD_NAMESPACE_CONTAINER-ID.log links.
  std::string pods_log = "/var/log/pods";

  std::string proc_path(std::string_view rel) const { return join(proc, rel); }
  std::string sys_path(std::string_view rel) const { return join(sys, rel); }

  static std::string join(std::string_view base, std::string_view rel) {
    std::string out(base);
    if (!out.empty() && out.back() != '/') out.push_back('/');
    while (!rel.empty() && rel.front() == '/')
      rel.remove_prefix(1);
    out.append(rel);
    return out;
  }
};

} // namespace sockdoctor::core
