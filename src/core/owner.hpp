// Who holds which socket: processes and the (pid, fd) pairs that reference a socket inode.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sockdoctor::core {

struct ProcessInfo {
  std::int32_t pid = 0;
  std::uint32_t uid = 0; // real uid from /proc/PID/status
  std::string comm;      // raw bytes from /proc/PID/comm (attacker-controlled: escape on output)
  std::string cmdline;   // NULs replaced by spaces (attacker-controlled), at most 4 KiB
  bool cmdline_truncated = false; // the command line was longer than what was kept
  std::string cgroup; // cgroup v2 path ("0::/system.slice/x.service" -> "/system.slice/x.service")
  std::uint64_t fd_limit = 0;  // RLIMIT_NOFILE soft limit; 0 = unknown
  std::uint32_t fd_count = 0;  // open fds of any kind
  std::uint32_t netns_ino = 0; // /proc/PID/ns/net inode; 0 = unknown
};

struct FdRef {
  std::uint32_t process_index = 0; // index into OwnerTable::processes
  std::int32_t fd = 0;
  std::uint32_t inode = 0; // the socket inode this fd refers to
};

// inode -> every (process, fd) that holds it. A socket shared after fork has several.
class OwnerTable {
public:
  // Process index of pid, adding a new entry if needed.
  std::uint32_t add_process(ProcessInfo info);
  void add_fd(std::uint32_t socket_inode, std::uint32_t process_index, std::int32_t fd);
  // Call once after all add_fd calls: groups references by inode for O(1) lookups.
  void finalize();

  std::span<const FdRef> owners_of(std::uint32_t inode) const;
  const ProcessInfo& process(std::uint32_t index) const { return processes_[index]; }
  const std::vector<ProcessInfo>& processes() const { return processes_; }
  std::vector<ProcessInfo>& mutable_processes() { return processes_; }
  std::size_t reference_count() const { return refs_.size(); }

  // What the scan could not see: processes that exited mid-scan, and processes whose fds we may
  // not read (another user's, without privilege).
  std::uint32_t vanished = 0;
  std::uint32_t denied = 0;
  // Capabilities whose absence explains `denied` ("CAP_SYS_PTRACE"); "" when none is missing
  // (then another user namespace or a security module refused).
  std::string denied_lacking;
  bool scanned = false; // false when owners were not requested

private:
  std::vector<ProcessInfo> processes_;
  // Every reference; after finalize() sorted by inode (then pid, fd), so the owners of one inode
  // are a contiguous run. The run is found through an open-addressing table of run starts + 1
  // (0 = empty slot) at most 5/8 full: 12 + ~6.5 bytes per socket where separate group arrays and
  // a half-full power-of-two table took 24 (a million sockets at a time), and no second copy of
  // the references while grouping.
  std::vector<FdRef> refs_;
  std::vector<std::uint32_t> slots_;
};

} // namespace sockdoctor::core
