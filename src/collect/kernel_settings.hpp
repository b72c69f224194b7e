// Reads the TCP sysctls and counters of the current network namespace from /proc (or a fixture).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collect/proc_counters.hpp" // the counters parsers, for callers that read both
#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/kernel_settings.hpp"

namespace sockdoctor::collect {

// ---- Pure decoders (no I/O); malformed input gives nullopt or an error, never a crash. ----

// One integer sysctl value ("60\n"); nullopt if empty, not a number, or trailing garbage.
std::optional<long> parse_sysctl_long(std::string_view text);
// Same, but nullopt if the value does not fit in an int.
std::optional<int> parse_sysctl_int(std::string_view text);

// ip_local_port_range: "32768\t60999\n". Both within 1..65535 and low <= high.
std::optional<core::PortRange> parse_port_range(std::string_view text);

// ip_local_reserved_ports: "" (none) or "1000-1005,2000" -> inclusive ranges.
std::optional<std::vector<std::pair<int, int>>> parse_reserved_ports(std::string_view text);

// kernel/osrelease "6.18.44-fc-v595" -> {6, 18}.
std::optional<std::pair<int, int>> parse_kernel_version(std::string_view release);

// ---- I/O ----

// Fills KernelSettings from <proc>/sys/net/{ipv4,core}, <proc>/sys/kernel/osrelease and
// <proc>/net/{netstat,snmp,sockstat}. A missing file leaves its field unset (absence is
// information: tcp_tw_recycle vanished in 4.12, tcp_tw_reuse_delay appeared in 6.14).
// The values are those of the reader's network namespace; a new namespace starts from the kernel
// defaults, not from the host's values. Fails only when nothing at all could be read.
core::Result<core::KernelSettings> read_kernel_settings(const core::FsRoot& root);

// As above, and appends one line per file that exists but could not be read or parsed
// ("<path>: not a number") to *problems, for -v output.
core::Result<core::KernelSettings> read_kernel_settings(const core::FsRoot& root,
                                                        std::vector<std::string>* problems);

// As above with the per-namespace counters (netstat, snmp, sockstat) read from `net_dir`:
// /proc/thread-self/net inside a setns() thread. The /proc/sys/net sysctls already follow the
// reading thread's namespace.
core::Result<core::KernelSettings> read_kernel_settings(const core::FsRoot& root,
                                                        const std::string& net_dir,
                                                        std::vector<std::string>* problems);

} // namespace sockdoctor::collect
