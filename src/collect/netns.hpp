// Network namespaces of the host: named ones (/run/netns) and those only processes live in.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fs_root.hpp"

namespace sockdoctor::collect {

struct NetnsEntry {
  std::uint32_t inode = 0;
  std::string name;          // /run/netns file name; "" when the namespace has none
  std::string path;          // usable with setns(): /run/netns/X if named, else <proc>/PID/ns/net
  std::int32_t some_pid = 0; // lowest pid living in it; 0 if none was seen
  std::string container_id;  // short id of the container some_pid runs in; "" if none
};

// /run/netns/* plus the distinct /proc/*/ns/net inodes, one entry per inode, sorted by inode.
// Only a failure to open <proc> is an error; unreadable processes are skipped.
core::Result<std::vector<NetnsEntry>> discover_netns(const core::FsRoot& root);

// Runs fn on a short-lived thread that first enters the namespace at `path` (setns needs
// CAP_SYS_ADMIN): sockets that thread opens, and /proc/thread-self/net and /proc/sys/net it reads,
// belong to that namespace while the caller's thread never moves. Errors: the open or setns.
core::Result<void> run_in_netns(const std::string& path, const std::function<void()>& fn);

// A namespace named on the command line: a /run/netns name, or a path (/proc/PID/ns/net, a bind
// mount). Fails unless it is an nsfs file.
core::Result<NetnsEntry> resolve_netns(const core::FsRoot& root, const std::string& name_or_path);

// Inode of <proc>/self/ns/net; 0 if it cannot be read.
std::uint32_t current_netns_inode(const core::FsRoot& root);

// "net:[4026531840]" (the target of a ns/net link) -> 4026531840; anything else -> nullopt.
std::optional<std::uint32_t> parse_netns_link(std::string_view link);

// Netns inode behind `rel_path` (e.g. "1234/ns/net") relative to `dirfd`: stat follows the link
// to the nsfs inode; a recorded tree has only a dangling link, so its text is parsed instead.
// 0 when neither works (process gone, or not ours to inspect).
std::uint32_t netns_inode_at(int dirfd, const char* rel_path);

} // namespace sockdoctor::collect
