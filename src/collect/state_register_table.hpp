// The register's socket table as its readers see it: an array of sets of ways
// (collect/bpf/state_register.h) that the programs write without locks; a reader keeps a way
// only when two copies of it agree and its sequence count is even (no write in progress).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "collect/state_register_decode.hpp"
#include "collect/unique_fd.hpp"
#include "core/error.hpp"

namespace sockdoctor::collect {

inline constexpr std::size_t kRegisterWays = 4;      // SR_WAYS
inline constexpr std::size_t kRegisterWaySize = 64;  // struct sr_way
inline constexpr std::size_t kRegisterSetSize = 256; // struct sr_set

// log2 of the number of sets that hold `entries` (sets of kRegisterWays, a power of two of
// them, at most 2^24 sets).
std::uint32_t register_set_bits(std::uint32_t entries);
// The set a cookie lives in: sr_set_index() of the programs.
std::uint32_t register_set_index(std::uint64_t cookie, std::uint32_t set_bits);

// One used way: its cookie and the entry's bytes (struct sr_entry).
struct RegisterWay {
  std::uint64_t cookie = 0;
  std::array<std::byte, kRegisterEntrySize> entry{};
};

// A way from two copies of it: nullopt if either is short, they differ (a program wrote it in
// between), the way is free, or a write was in progress (odd sequence count).
std::optional<RegisterWay> stable_register_way(std::span<const std::byte> first,
                                               std::span<const std::byte> second);

// The ways of one point in time, copied out of the kernel.
class RegisterTableCopy {
public:
  std::optional<RegisterWay> find(std::uint64_t cookie) const;
  void for_each(const std::function<void(const RegisterWay&)>& visit) const;
  std::uint64_t used() const;

private:
  friend class RegisterTable;
  std::vector<std::optional<RegisterWay>> ways_; // set * kRegisterWays + way
  std::uint32_t set_bits_ = 0;
};

// The `sockets` map of a live or pinned register (a read-only fd is enough).
class RegisterTable {
public:
  // Unavailable if the map is not a table of this build's layout.
  static core::Result<RegisterTable> open(UniqueFd fd);

  // The entry of `cookie` (one set read twice), or nullopt.
  core::Result<std::optional<RegisterWay>> find(std::uint64_t cookie) const;
  // The whole table, read twice; ways that changed in between are read again one set at a time.
  core::Result<RegisterTableCopy> copy() const;
  std::uint64_t capacity() const { return static_cast<std::uint64_t>(sets_) * kRegisterWays; }

private:
  RegisterTable(UniqueFd fd, std::uint32_t sets);
  core::Result<void> read_all(std::vector<std::byte>& out) const;
  core::Result<void> read_set(std::uint32_t set, std::span<std::byte> out) const;
  core::Result<std::array<std::optional<RegisterWay>, kRegisterWays>>
  stable_set(std::uint32_t set) const;

  UniqueFd fd_;
  std::uint32_t sets_ = 0;
  std::uint32_t set_bits_ = 0;
};

} // namespace sockdoctor::collect
