// Reading the state register: lookups by cookie, counters, and the pins of another process.
#include <fcntl.h>
#include <time.h>

#include <cerrno>
#include <cstring>

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

RegisterReader::RegisterReader(RegisterTable table, UniqueFd counters, core::RegisterInfo info)
    : table_(std::move(table)), counters_(std::move(counters)), info_(info) {}

bool RegisterReader::host_alive(const core::FsRoot& root) const {
  return register_host_alive(info_, root);
}

#ifdef SOCKDOCTOR_HAVE_BPF

namespace {

constexpr std::size_t kFewCookies = 64; // below this, reading their sets beats copying the table

core::Error map_error(std::string_view what, int err) {
  return bpf_error(std::string("state register: ") + std::string(what), err);
}

} // namespace

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
  auto table = RegisterTable::open(UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)));
  if (!table) return tl::unexpected(table.error());
  auto copy = table->copy();
  if (!copy) return tl::unexpected(copy.error());
  return copy->used();
}

core::Result<std::vector<std::optional<core::TracedSocket>>>
RegisterReader::lookup(std::span<const std::uint64_t> cookies) const {
  std::vector<std::optional<core::TracedSocket>> out(cookies.size());
  auto keep = [&out](std::size_t i, const std::optional<RegisterWay>& way) {
    if (!way) return;
    if (auto e = decode_register_entry(way->entry)) out[i] = std::move(*e);
  };
  if (cookies.size() <= kFewCookies) {
    for (std::size_t i = 0; i < cookies.size(); ++i) {
      auto way = table_.find(cookies[i]);
      if (!way) return tl::unexpected(way.error());
      keep(i, *way);
    }
    return out;
  }
  auto copy = table_.copy();
  if (!copy) return tl::unexpected(copy.error());
  for (std::size_t i = 0; i < cookies.size(); ++i)
    keep(i, copy->find(cookies[i]));
  return out;
}

core::Result<core::RegisterCounters> RegisterReader::counters() const {
  return read_register_counters(counters_.get());
}

core::Result<std::uint64_t> RegisterReader::count_entries() const {
  auto copy = table_.copy();
  if (!copy) return tl::unexpected(copy.error());
  return copy->used();
}

core::Result<void> RegisterReader::for_each_raw(const RawVisitor& visit) const {
  auto copy = table_.copy();
  if (!copy) return tl::unexpected(copy.error());
  copy->for_each([&visit](const RegisterWay& w) { visit(w.cookie, w.entry); });
  return {};
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
  auto table = RegisterTable::open(std::move(*sockets)); // refuses a table of another layout
  if (!table) return tl::unexpected(core::with_context("state register at " + dir, table.error()));
  auto counters = open_pinned_object(dir + "/" + kPinCounters, /*read_only=*/true);
  if (!counters) return tl::unexpected(core::with_context("state register", counters.error()));
  return RegisterReader(std::move(*table), std::move(*counters), *info);
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
