// Fuzzes the parsers of /proc/PID/{stat,status,limits,cgroup,cmdline}, the fd and ns/net link
// targets, container ids in cgroup paths and /proc/kallsyms: every text a process scan reads.
#include <cstddef>
#include <cstdint>
#include <string>

#include "collect/netns.hpp"
#include "collect/proc_owners.hpp"
#include "collect/state_register_decode.hpp"
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
  (void)collect::find_kallsyms_text(text, "tw_timer_handler");

  const std::string cgroup = collect::parse_cgroup_path(text);
  fuzz::require(cgroup.size() <= size, "cgroup path longer than the file");
  const std::string id = collect::container_id_from_cgroup(cgroup);
  fuzz::require(id.empty() || id.size() == 12, "container id is not 12 hex digits");
  (void)collect::container_id_from_cgroup(text);

  const std::string cmdline = collect::parse_cmdline(text);
  fuzz::require(cmdline.size() <= size, "cmdline longer than the file");
  fuzz::require(cmdline.find('\0') == std::string::npos, "cmdline kept a NUL");
  return 0;
}
