// Pure decoders of the state register's BPF records (state_register.h) and of the /proc text
// its host needs; bytes in, core types out, so that tests and fuzzers need no BPF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/error.hpp"
#include "core/traced_socket.hpp"

namespace sockdoctor::collect {

// Record sizes of the ABI this build speaks (state_register.h, SR_ABI_VERSION).
inline constexpr std::size_t kRegisterEntrySize = 48;
inline constexpr std::size_t kRegisterEventSize = 112;
inline constexpr std::size_t kRegisterCountersSize = 128;
inline constexpr std::size_t kRegisterInfoSize = 72;
inline constexpr std::uint32_t kRegisterAbiVersion = 2;

// One ring-buffer record (struct sr_event). Malformed if shorter than the record or if a field
// is out of range (unknown kind, family, state); longer input is accepted (a newer kernel side
// may append fields). Every byte pattern of the right size either decodes or is rejected.
core::Result<core::SocketTransition> decode_register_event(std::span<const std::byte> data);

// One value of the `sockets` map (struct sr_entry).
core::Result<core::TracedSocket> decode_register_entry(std::span<const std::byte> data);

// The value of the per-CPU `counters` map as bpf_map_lookup_elem() returns it: `cpus` values of
// struct sr_counters, each at an 8-byte aligned stride. Summed over the CPUs.
core::Result<core::RegisterCounters> decode_register_counters(std::span<const std::byte> data,
                                                              std::size_t cpus);

// The `info` map's element (struct sr_info). Malformed if its ABI version is not ours.
core::Result<core::RegisterInfo> decode_register_info(std::span<const std::byte> data);

// Field 22 (starttime, clock ticks since boot) of /proc/PID/stat; nullopt if malformed. The
// command name in field 2 may contain spaces and parentheses: fields count from the last ')'.
std::optional<std::uint64_t> parse_stat_starttime(std::string_view stat);

} // namespace sockdoctor::collect
