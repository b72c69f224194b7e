// Reading the state register: lookups by cookie, counters, and the pins of another process.
#include <time.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "collect/bpf_runtime.hpp"
#include "collect/state_register.hpp"
#include "collect/state_register_decode.hpp"
#include "collect/state_register_pins.hpp"

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

namespace sockdoctor::collect {

std::uint64_t boot_time_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

RegisterReader::RegisterReader(UniqueFd sockets, UniqueFd counters, core::RegisterInfo info)
    : sockets_(std::move(sockets)), counters_(std::move(counters)), info_(info) {}

bool RegisterReader::host_alive(const core::FsRoot& root) const {
  return register_host_alive(info_, root);
}

#ifdef SOCKDOCTOR_HAVE_BPF

namespace {

constexpr std::size_t kFewCookies = 64; // below this, single lookups beat a walk of the map

core::Error map_error(std::string_view what, int err) {
  return bpf_error(std::string("state register: ") + std::string(what), err);
}

} // namespace

core::Result<void> walk_register_map(int fd, const EntryVisitor& visit) {
  constexpr std::uint32_t kBatch = 4096;
  std::vector<std::uint64_t> keys(kBatch);
  std::vector<std::byte> values(kBatch * kRegisterEntrySize);
  std::uint64_t cursor = 0;
  bool first = true;
  for (;;) {
    std::uint32_t count = kBatch;
    const int rc = bpf_map_lookup_batch(fd, first ? nullptr : &cursor, &cursor, keys.data(),
                                        values.data(), &count, nullptr);
    const int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err != ENOENT) return tl::unexpected(map_error("batch lookup", err));
    for (std::uint32_t i = 0; i < count; ++i)
      visit(keys[i], std::span(values).subspan(i * kRegisterEntrySize, kRegisterEntrySize));
    if (rc != 0) return {}; // ENOENT: that was the last batch
    first = false;
  }
}

core::Result<core::RegisterCounters> read_register_counters(int fd) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return tl::unexpected(map_error("possible CPUs", -cpus));
  constexpr std::size_t stride = (kRegisterCountersSize + 7) / 8 * 8;
  std::vector<std::byte> buf(static_cast<std::size_t>(cpus) * stride);
  std::uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, buf.data()) != 0)
    return tl::unexpected(map_error("counters", errno));
  return decode_register_counters(buf, static_cast<std::size_t>(cpus));
}

core::Result<std::uint64_t> count_register_entries(int fd) {
  std::uint64_t n = 0;
  auto walked = walk_register_map(fd, [&n](std::uint64_t, std::span<const std::byte>) { ++n; });
  if (!walked) return tl::unexpected(walked.error());
  return n;
}

core::Result<std::vector<std::optional<core::TracedSocket>>>
RegisterReader::lookup(std::span<const std::uint64_t> cookies) const {
  std::vector<std::optional<core::TracedSocket>> out(cookies.size());
  if (cookies.size() <= kFewCookies) {
    std::byte value[kRegisterEntrySize];
    for (std::size_t i = 0; i < cookies.size(); ++i) {
      if (cookies[i] == 0) continue;
      if (bpf_map_lookup_elem(sockets_.get(), &cookies[i], value) != 0) {
        if (errno == ENOENT) continue;
        return tl::unexpected(map_error("lookup", errno));
      }
      if (auto e = decode_register_entry(value)) out[i] = std::move(*e);
    }
    return out;
  }
  std::unordered_map<std::uint64_t, std::size_t> wanted; // cookie -> first index
  wanted.reserve(cookies.size());
  for (std::size_t i = 0; i < cookies.size(); ++i)
    if (cookies[i] != 0) wanted.emplace(cookies[i], i);
  auto walked = walk_register_map(sockets_.get(),
                                  [&](std::uint64_t cookie, std::span<const std::byte> value) {
                                    auto it = wanted.find(cookie);
                                    if (it == wanted.end()) return;
                                    if (auto e = decode_register_entry(value))
                                      out[it->second] = std::move(*e);
                                  });
  if (!walked) return tl::unexpected(walked.error());
  for (std::size_t i = 0; i < cookies.size(); ++i) // duplicates share the first one's entry
    if (cookies[i] != 0 && !out[i]) {
      if (auto it = wanted.find(cookies[i]); it != wanted.end() && it->second != i)
        out[i] = out[it->second];
    }
  return out;
}

core::Result<core::RegisterCounters> RegisterReader::counters() const {
  return read_register_counters(counters_.get());
}

core::Result<std::uint64_t> RegisterReader::count_entries() const {
  return count_register_entries(sockets_.get());
}

core::Result<void> RegisterReader::for_each_raw(const RawVisitor& visit) const {
  return walk_register_map(sockets_.get(), visit);
}

core::Result<std::pair<std::vector<std::byte>, std::size_t>> RegisterReader::raw_counters() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return tl::unexpected(map_error("possible CPUs", -cpus));
  std::vector<std::byte> buf(static_cast<std::size_t>(cpus) *
                             ((kRegisterCountersSize + 7) / 8 * 8));
  std::uint32_t zero = 0;
  if (bpf_map_lookup_elem(counters_.get(), &zero, buf.data()) != 0)
    return tl::unexpected(map_error("counters", errno));
  return std::pair{std::move(buf), static_cast<std::size_t>(cpus)};
}

core::Result<RegisterReader> open_pinned_register(const std::string& pin_root,
                                                  const core::FsRoot& root) {
  if (auto usable = bpf_usable(); !usable && usable.error().code == core::ErrorCode::Unavailable)
    return tl::unexpected(usable.error());
  const std::string dir = register_pin_dir(pin_root);
  auto info = read_pinned_info(dir);
  if (!info) return tl::unexpected(info.error());
  if (!register_host_alive(*info, root))
    return core::fail(core::ErrorCode::Unavailable,
                      "state register at " + dir + " is stale: its host (pid " +
                          std::to_string(info->host_pid) + ") is gone");
  auto sockets = open_pinned_object(dir + "/" + kPinSockets, /*read_only=*/true);
  if (!sockets) return tl::unexpected(core::with_context("state register", sockets.error()));
  auto size = map_value_size(sockets->get(), dir + "/" + kPinSockets);
  if (!size) return tl::unexpected(size.error());
  if (*size != kRegisterEntrySize)
    return core::fail(core::ErrorCode::Unavailable,
                      "state register at " + dir + " was pinned by another sockdoctor version");
  auto counters = open_pinned_object(dir + "/" + kPinCounters, /*read_only=*/true);
  if (!counters) return tl::unexpected(core::with_context("state register", counters.error()));
  return RegisterReader(std::move(*sockets), std::move(*counters), *info);
}

#else // !SOCKDOCTOR_HAVE_BPF

core::Result<std::vector<std::optional<core::TracedSocket>>>
RegisterReader::lookup(std::span<const std::uint64_t>) const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<core::RegisterCounters> RegisterReader::counters() const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<std::uint64_t> RegisterReader::count_entries() const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<void> RegisterReader::for_each_raw(const RawVisitor&) const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<std::pair<std::vector<std::byte>, std::size_t>> RegisterReader::raw_counters() const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<RegisterReader> open_pinned_register(const std::string&, const core::FsRoot&) {
  return tl::unexpected(bpf_probe().why_not);
}

#endif

} // namespace sockdoctor::collect
