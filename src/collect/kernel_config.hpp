// What the running kernel was built with (CONFIG_HZ, CONFIG_INET_DIAG_DESTROY from
// /proc/config.gz) and its release's sublevel: pure decoders plus one bounded reader.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fs_root.hpp"

namespace sockdoctor::collect {

// The build options sockdoctor's figures depend on. nullopt = not stated by the configuration.
struct KernelBuildConfig {
  std::optional<int> hz;                 // CONFIG_HZ: timer-wheel slack, jiffies granularity
  std::optional<bool> inet_diag_destroy; // CONFIG_INET_DIAG_DESTROY: whether `ss -K` can work
};

// Bounds for /proc/config.gz: a real one is ~25 KB compressed and ~100-300 KB of text.
inline constexpr std::size_t kMaxConfigGzBytes = 1 << 20;
inline constexpr std::size_t kMaxConfigTextBytes = 8 << 20;

// ---- Pure decoders (no I/O); malformed input gives an error, never a crash. ----

// Inflates one gzip member; fails when the stream is corrupt or truncated, or when its output
// would exceed max_output bytes (a gzip bomb is stopped there, not after).
core::Result<std::string> gunzip(std::string_view compressed, std::size_t max_output);

// Kernel .config text: "CONFIG_HZ=250", "CONFIG_INET_DIAG_DESTROY=y",
// "# CONFIG_INET_DIAG_DESTROY is not set". A boolean option missing from a complete
// configuration is off (Kconfig writes only the options whose dependencies are met), so
// inet_diag_destroy is false then. Fails when the text holds no CONFIG_ line at all.
core::Result<KernelBuildConfig> parse_kernel_config(std::string_view text);

// The sublevel of a release: "6.18.44-fc-v595" -> 44, "5.15" -> 0, "6.1-rc1" -> 0;
// nullopt when the release has no "MAJOR.MINOR" prefix.
std::optional<int> parse_kernel_sublevel(std::string_view release);

// ---- I/O ----

// Reads <proc>/config.gz (present when the kernel has CONFIG_IKCONFIG_PROC). Absent: every field
// nullopt and no problem noted; unreadable, too large or malformed: nullopt and one line in
// *problems (may be null). Never blocks: the file must be a regular file.
KernelBuildConfig read_kernel_build_config(const core::FsRoot& root,
                                           std::vector<std::string>* problems);

} // namespace sockdoctor::collect
