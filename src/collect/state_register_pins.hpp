// Internal to collect/state_register*.cpp: the pin layout on bpffs, host liveness, counters.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/traced_socket.hpp"

namespace sockdoctor::collect {

// <pin_root>/register/{sockets,counters,info}: one directory, renamed into place whole, so a
// reader sees either no register or a complete one.
inline constexpr const char* kPinSockets = "sockets";
inline constexpr const char* kPinCounters = "counters";
inline constexpr const char* kPinInfo = "info";

std::string register_pin_dir(const std::string& pin_root);

// The host named by `info` runs: <proc>/PID/stat exists with the recorded start time.
bool register_host_alive(const core::RegisterInfo& info, const core::FsRoot& root);

// The info element of the register pinned in `dir`. NotFound: nothing pinned there;
// Unavailable: pinned by a build of another ABI version.
core::Result<core::RegisterInfo> read_pinned_info(const std::string& dir);

// Pins the three maps into a fresh directory next to `dir`, then renames it to `dir`.
core::Result<void>
pin_register(int sockets_fd, int counters_fd, int info_fd, const std::string& dir, mode_t mode);
// Removes `dir` and the pins in it (missing ones are fine).
core::Result<void> remove_register_pins(const std::string& dir);

core::Result<core::RegisterCounters> read_register_counters(int fd);
core::Result<std::uint64_t> count_register_entries(int fd);

} // namespace sockdoctor::collect
