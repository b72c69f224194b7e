// Which processes hold which socket inodes: a parallel scan of <proc>/PID/fd plus pure parsers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/owner.hpp"

namespace sockdoctor::collect {

struct OwnerScanOptions {
  unsigned threads = 0; // 0 = hardware concurrency
  bool details = true;  // comm, cmdline, cgroup, uid, fd limit, fd count, netns of socket holders
  std::vector<std::int32_t> only_pids; // empty: every process; else just these (vanished ones are
                                       // counted in `vanished`)
};

// Walks <proc>/[0-9]*/fd and fills an OwnerTable (already finalized, scanned = true).
// Processes that exit mid-scan are counted in `vanished`, unreadable ones in `denied`; only a
// failure to open <proc> itself is an error.
core::Result<core::OwnerTable> scan_owners(const core::FsRoot& root, const OwnerScanOptions& opts);

// The socket fds of just these processes, through the same walker; details (comm, cmdline, ...)
// are copied from `procs` instead of being read again. For `top`'s cheap targeted rescans.
core::Result<core::OwnerTable> scan_owners_of(const core::FsRoot& root,
                                              const std::vector<core::ProcessInfo>& procs);

// comm, cmdline, uid, cgroup, fd limit and netns of each process in `infos` (pid set), read from
// <proc_fd>/PID on up to `threads` threads; alive[i] = 0 when process i exited meanwhile (its
// references should then be dropped). Shared by the /proc and eBPF owner scans so both agree.
void read_process_details(int proc_fd,
                          std::vector<core::ProcessInfo>& infos,
                          std::vector<char>& alive,
                          unsigned threads);

// "socket:[12345]" -> 12345; anything else (pipes, files, anon inodes, overflow) -> nullopt.
std::optional<std::uint32_t> parse_socket_link(std::string_view link);
// Real uid: first number of the "Uid:" line of /proc/PID/status.
std::optional<std::uint32_t> parse_status_uid(std::string_view status);
// "FDSize:" of /proc/PID/status: the size of the fd table, an upper bound of the fd numbers.
std::optional<std::uint32_t> parse_status_fdsize(std::string_view status);
// Soft limit on the "Max open files" line of /proc/PID/limits; "unlimited" -> UINT64_MAX.
std::optional<std::uint64_t> parse_nofile_soft_limit(std::string_view limits);
// Path of the cgroup v2 line ("0::/path") if present, else the path of the first line.
std::string parse_cgroup_path(std::string_view cgroup);
// /proc/PID/cmdline: NULs between arguments become spaces, trailing NULs are dropped.
std::string parse_cmdline(std::string_view raw);

} // namespace sockdoctor::collect
