// The register's socket table read from user space: double copies, the set of a cookie.
#include "collect/state_register_table.hpp"

#include <bit>
#include <cerrno>
#include <cstring>
#include <string>

#include "collect/bpf/state_register.h"

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>
#endif

namespace sockdoctor::collect {

static_assert(sizeof(sr_way) == SR_WAY_SIZE && SR_WAY_SIZE == kRegisterWaySize);
static_assert(sizeof(sr_set) == SR_SET_SIZE && SR_SET_SIZE == kRegisterSetSize);
static_assert(SR_WAYS == kRegisterWays && offsetof(sr_way, entry) == 16);

namespace {

constexpr std::uint32_t kMaxSetBits = 24;

} // namespace

std::uint32_t register_set_bits(std::uint32_t entries) {
  const std::uint64_t sets =
      (static_cast<std::uint64_t>(entries) + kRegisterWays - 1) / kRegisterWays;
  const auto bits = static_cast<std::uint32_t>(std::bit_width(sets > 1 ? sets - 1 : 0));
  return bits > kMaxSetBits ? kMaxSetBits : bits;
}

std::uint32_t register_set_index(std::uint64_t cookie, std::uint32_t set_bits) {
  return sr_set_index(cookie, set_bits);
}

namespace {

// The two copies of a way agree and no program was writing it (even sequence count).
bool way_settled(std::span<const std::byte> first, std::span<const std::byte> second) {
  if (first.size() < kRegisterWaySize || second.size() < kRegisterWaySize ||
      std::memcmp(first.data(), second.data(), kRegisterWaySize) != 0)
    return false;
  std::uint64_t seq = 0;
  std::memcpy(&seq, first.data() + offsetof(sr_way, seq), sizeof seq);
  return (seq & 1) == 0;
}

} // namespace

std::optional<RegisterWay> stable_register_way(std::span<const std::byte> first,
                                               std::span<const std::byte> second) {
  if (!way_settled(first, second)) return std::nullopt;
  RegisterWay out;
  std::memcpy(&out.cookie, first.data() + offsetof(sr_way, cookie), sizeof out.cookie);
  if (out.cookie == 0) return std::nullopt;
  std::memcpy(out.entry.data(), first.data() + offsetof(sr_way, entry), out.entry.size());
  return out;
}

std::optional<RegisterWay> RegisterTableCopy::find(std::uint64_t cookie) const {
  if (cookie == 0 || ways_.empty()) return std::nullopt;
  const std::size_t base = std::size_t{register_set_index(cookie, set_bits_)} * kRegisterWays;
  for (std::size_t w = base; w < base + kRegisterWays && w < ways_.size(); ++w)
    if (ways_[w] && ways_[w]->cookie == cookie) return ways_[w];
  return std::nullopt;
}

void RegisterTableCopy::for_each(const std::function<void(const RegisterWay&)>& visit) const {
  for (const auto& way : ways_)
    if (way) visit(*way);
}

std::uint64_t RegisterTableCopy::used() const {
  std::uint64_t n = 0;
  for (const auto& way : ways_)
    n += way ? 1 : 0;
  return n;
}

RegisterTable::RegisterTable(UniqueFd fd, std::uint32_t sets)
    : fd_(std::move(fd)), sets_(sets),
      set_bits_(static_cast<std::uint32_t>(std::countr_zero(sets))) {}

#ifdef SOCKDOCTOR_HAVE_BPF

namespace {

// A program writes a way for well under a microsecond; a set that changed under this many
// double reads in a row is rewritten constantly, and its unsettled ways are left out.
constexpr int kSetTries = 8;

// Way `w` of a set copy.
std::span<const std::byte> way_of(std::span<const std::byte> set, std::size_t w) {
  return set.subspan(w * kRegisterWaySize, kRegisterWaySize);
}

core::Error table_error(std::string_view what, int err) {
  return core::Error{"state register: " + std::string(what) + ": " + std::strerror(err), err,
                     core::ErrorCode::Failed};
}

} // namespace

core::Result<RegisterTable> RegisterTable::open(UniqueFd fd) {
  bpf_map_info info{};
  std::uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0)
    return tl::unexpected(table_error("table info", errno));
  if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != kRegisterSetSize ||
      !std::has_single_bit(info.max_entries) || info.max_entries > (1u << kMaxSetBits))
    return core::fail(core::ErrorCode::Unavailable,
                      "state register: the socket table has another layout (pinned by another "
                      "sockdoctor version)");
  return RegisterTable(std::move(fd), info.max_entries);
}

core::Result<void> RegisterTable::read_set(std::uint32_t set, std::span<std::byte> out) const {
  if (bpf_map_lookup_elem(fd_.get(), &set, out.data()) != 0)
    return tl::unexpected(table_error("read a set", errno));
  return {};
}

// Every set in index order, in batches (an array's batch keys are its indices).
core::Result<void> RegisterTable::read_all(std::vector<std::byte>& out) const {
  out.assign(std::size_t{sets_} * kRegisterSetSize, std::byte{0});
  constexpr std::uint32_t kBatch = 1024;
  std::vector<std::uint32_t> keys(kBatch);
  std::uint32_t cursor = 0;
  std::size_t done = 0;
  for (bool first = true; done < sets_; first = false) {
    std::uint32_t count = std::min<std::uint32_t>(kBatch, static_cast<std::uint32_t>(sets_ - done));
    const int rc = bpf_map_lookup_batch(fd_.get(), first ? nullptr : &cursor, &cursor, keys.data(),
                                        out.data() + done * kRegisterSetSize, &count, nullptr);
    if (rc != 0 && errno != ENOENT) return tl::unexpected(table_error("read the table", errno));
    for (std::uint32_t i = 0; i < count; ++i)
      if (keys[i] != done + i) return tl::unexpected(table_error("read the table", EIO));
    done += count;
    if (rc != 0 || count == 0) break;
  }
  if (done != sets_) return tl::unexpected(table_error("read the table", EIO));
  return {};
}

core::Result<std::array<std::optional<RegisterWay>, kRegisterWays>>
RegisterTable::stable_set(std::uint32_t set) const {
  std::array<std::optional<RegisterWay>, kRegisterWays> out;
  std::array<std::byte, kRegisterSetSize> a, b;
  std::array<bool, kRegisterWays> settled{};
  for (int t = 0; t < kSetTries; ++t) {
    if (auto r = read_set(set, a); !r) return tl::unexpected(r.error());
    if (auto r = read_set(set, b); !r) return tl::unexpected(r.error());
    bool all = true;
    for (std::size_t w = 0; w < kRegisterWays; ++w) {
      if (settled[w]) continue;
      settled[w] = way_settled(way_of(a, w), way_of(b, w));
      if (settled[w]) out[w] = stable_register_way(way_of(a, w), way_of(b, w));
      all = all && settled[w];
    }
    if (all) break;
  }
  return out;
}

core::Result<std::optional<RegisterWay>> RegisterTable::find(std::uint64_t cookie) const {
  if (cookie == 0 || sets_ == 0) return std::nullopt;
  auto set = stable_set(register_set_index(cookie, set_bits_));
  if (!set) return tl::unexpected(set.error());
  for (const auto& way : *set)
    if (way && way->cookie == cookie) return way;
  return std::nullopt;
}

core::Result<RegisterTableCopy> RegisterTable::copy() const {
  std::vector<std::byte> first, second;
  if (auto r = read_all(first); !r) return tl::unexpected(r.error());
  if (auto r = read_all(second); !r) return tl::unexpected(r.error());
  RegisterTableCopy out;
  out.set_bits_ = set_bits_;
  out.ways_.resize(std::size_t{sets_} * kRegisterWays);
  for (std::uint32_t set = 0; set < sets_; ++set) {
    const std::size_t at = std::size_t{set} * kRegisterSetSize;
    const auto a = std::span<const std::byte>(first).subspan(at, kRegisterSetSize);
    const auto b = std::span<const std::byte>(second).subspan(at, kRegisterSetSize);
    bool settled = true;
    for (std::size_t w = 0; w < kRegisterWays; ++w)
      settled = settled && way_settled(way_of(a, w), way_of(b, w));
    if (!settled) {
      auto again = stable_set(set); // written between or during the two copies
      if (!again) return tl::unexpected(again.error());
      std::copy(again->begin(), again->end(), out.ways_.begin() + set * kRegisterWays);
      continue;
    }
    for (std::size_t w = 0; w < kRegisterWays; ++w)
      out.ways_[set * kRegisterWays + w] = stable_register_way(way_of(a, w), way_of(b, w));
  }
  return out;
}

#else

core::Result<RegisterTable> RegisterTable::open(UniqueFd) {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<std::optional<RegisterWay>> RegisterTable::find(std::uint64_t) const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<RegisterTableCopy> RegisterTable::copy() const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

#endif

} // namespace sockdoctor::collect
