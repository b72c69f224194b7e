// The one place filesystem paths under /proc and /sys are built, so a recorded tree is a fixture.
#pragma once

#include <string>
#include <string_view>

namespace sockdoctor::core {

struct FsRoot {
  std::string proc = "/proc";
  std::string sys = "/sys";
  std::string run_netns = "/run/netns";

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
