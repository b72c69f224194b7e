// Fuzzes the parsers of /proc/PID/{stat,status,limits,cgroup,cmdline}, the fd and ns/net link
// targets and units/containers/pods in cgroup paths: every text a process scan reads.
#include <cstddef>
#include <cstdint>
#include <string>

#include "collect/netns.hpp"
#include "collect/proc_owners.hpp"
#include "collect/state_register_decode.hpp"
#include "core/workload_decode.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::text(data, size);
  (void)collect::parse_stat_starttime(text);
  (void)collect::parse_status_uid(text);
  (void)collect::parse_status_fdsize(text);
  (void)collect::parse_nofile_soft_limit(text);
  (void)collect::parse_socket_link(text);
  (void)collect::parse_netns_link(text);

  const std::string cgroup = collect::parse_cgroup_path(text);
  fuzz::require(cgroup.size() <= size, "cgroup path longer than the file");
  // The one cgroup-path decoder (units, containers, pods): bounded, never throws.
  for (std::string_view path : {std::string_view(cgroup), text}) {
    const core::Workload w = core::decode_cgroup_path(path);
    fuzz::require(w.unit.size() <= path.size() && w.container_id.size() <= path.size() &&
                      w.pod_uid.size() <= path.size(),
                  "a workload field longer than its cgroup path");
    fuzz::require(core::short_container_id(w.container_id).size() <= w.container_id.size(),
                  "a short container id longer than the id");
  }

  const std::string cmdline = collect::parse_cmdline(text);
  fuzz::require(cmdline.size() <= size, "cmdline longer than the file");
  fuzz::require(cmdline.find('\0') == std::string::npos, "cmdline kept a NUL");
  return 0;
}
