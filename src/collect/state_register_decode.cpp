// Decoding of the state register's records: fixed-layout C structs, copied, checked, converted.
#include "collect/state_register_decode.hpp"

#include <charconv>
#include <cstring>
#include <string>

#include "collect/bpf/state_register.h"

namespace sockdoctor::collect {

static_assert(sizeof(sr_entry) == SR_ENTRY_SIZE && SR_ENTRY_SIZE == kRegisterEntrySize);
static_assert(sizeof(sr_event) == SR_EVENT_SIZE && SR_EVENT_SIZE == kRegisterEventSize);
static_assert(sizeof(sr_counters) == SR_COUNTERS_SIZE && SR_COUNTERS_SIZE == kRegisterCountersSize);
static_assert(sizeof(sr_info) == SR_INFO_SIZE && SR_INFO_SIZE == kRegisterInfoSize);
static_assert(SR_ABI_VERSION == kRegisterAbiVersion);

namespace {

constexpr std::uint16_t kAfInet = 2;
constexpr std::uint16_t kAfInet6 = 10;

template <typename T>
core::Result<T> copy_record(std::span<const std::byte> data, std::string_view what) {
  if (data.size() < sizeof(T))
    return core::fail(core::ErrorCode::Malformed,
                      std::string(what) + ": " + std::to_string(data.size()) +
                          " bytes, expected at least " + std::to_string(sizeof(T)));
  T rec;
  std::memcpy(&rec, data.data(), sizeof rec);
  return rec;
}

std::optional<core::TcpState> state_of(std::uint8_t raw) {
  if (raw < 1 || raw > core::kMaxTcpState) return std::nullopt;
  return static_cast<core::TcpState>(raw);
}

std::optional<core::OwnerRole> role_of(std::uint8_t raw) {
  if (raw > SR_ROLE_CLOSE) return std::nullopt;
  return static_cast<core::OwnerRole>(raw);
}

core::TracedOwner owner_of(const sr_owner& o, core::OwnerRole role) {
  core::TracedOwner out;
  out.pid = static_cast<std::int32_t>(o.pid);
  out.uid = o.uid;
  out.cgroup_id = o.cgroup_id;
  out.comm.assign(o.comm, strnlen(o.comm, sizeof o.comm));
  out.role = role;
  return out;
}

core::Endpoint endpoint_of(std::uint16_t family, const __u8 (&addr)[16], std::uint16_t port) {
  core::Endpoint e;
  e.port = port;
  if (family == kAfInet6) {
    std::uint8_t b[16];
    std::memcpy(b, addr, sizeof b);
    e.addr = core::IpAddress::v6(b);
  } else {
    std::uint32_t v4;
    std::memcpy(&v4, addr, sizeof v4); // stays in network byte order
    e.addr = core::IpAddress::v4(v4);
  }
  return e;
}

core::Error malformed(std::string what) {
  return core::Error{std::move(what), 0, core::ErrorCode::Malformed};
}

} // namespace

core::Result<core::SocketTransition> decode_register_event(std::span<const std::byte> data) {
  auto rec = copy_record<sr_event>(data, "state register event");
  if (!rec) return tl::unexpected(rec.error());
  const sr_event& ev = *rec;
  const auto old_state = state_of(ev.old_state);
  const auto new_state = state_of(ev.new_state);
  const auto role = role_of(ev.role);
  if (!old_state || !new_state) return tl::unexpected(malformed("state register event: bad state"));
  if (ev.kind < SR_EV_STATE || ev.kind > SR_EV_TW_KILL)
    return tl::unexpected(malformed("state register event: unknown kind"));
  if (ev.family != kAfInet && ev.family != kAfInet6)
    return tl::unexpected(malformed("state register event: unknown address family"));
  if (!role) return tl::unexpected(malformed("state register event: unknown owner role"));

  core::SocketTransition t;
  t.time_boot_ns = ev.ts_ns;
  t.cookie = ev.cookie;
  t.netns_ino = ev.netns;
  t.local = endpoint_of(ev.family, ev.saddr, ev.sport);
  t.peer = endpoint_of(ev.family, ev.daddr, ev.dport);
  t.old_state = *old_state;
  t.new_state = *new_state;
  t.kind = static_cast<core::TransitionKind>(ev.kind);
  if ((ev.flags & SR_EVF_OLD_SEEN) != 0 && ev.old_entered_ns != 0 && ev.ts_ns >= ev.old_entered_ns)
    t.in_old_state_ns = ev.ts_ns - ev.old_entered_ns;
  t.old_from_timer = (ev.flags & SR_EVF_OLD_TIMER) != 0;
  t.time_from_timer = (ev.flags & SR_EVF_TIME_FROM_TIMER) != 0;
  t.tracked = (ev.flags & SR_EVF_NO_ENTRY) == 0;
  t.born_traced = (ev.flags & SR_EVF_BORN_TRACED) != 0;
  t.owner = owner_of(ev.owner, *role);
  return t;
}

core::Result<core::TracedSocket> decode_register_entry(std::span<const std::byte> data) {
  auto rec = copy_record<sr_entry>(data, "state register entry");
  if (!rec) return tl::unexpected(rec.error());
  const auto state = state_of(rec->state);
  const auto role = role_of(rec->role);
  if (!state) return tl::unexpected(malformed("state register entry: bad state"));
  if (!role) return tl::unexpected(malformed("state register entry: unknown owner role"));
  core::TracedSocket s;
  s.state = *state;
  s.entered_boot_ns = rec->entered_ns;
  s.entered_exact = (rec->flags & SR_F_ENTRY_SEEN) != 0;
  s.entered_from_timer = (rec->flags & SR_F_FROM_TIMER) != 0;
  s.born_traced = (rec->flags & SR_F_BORN_TRACED) != 0;
  s.mini_socket = (rec->flags & SR_F_MINISOCK) != 0;
  s.owner = owner_of(rec->owner, *role);
  return s;
}

core::Result<core::RegisterCounters> decode_register_counters(std::span<const std::byte> data,
                                                              std::size_t cpus) {
  constexpr std::size_t stride = (sizeof(sr_counters) + 7) / 8 * 8;
  if (cpus == 0 || data.size() / stride < cpus)
    return tl::unexpected(malformed("state register counters: " + std::to_string(data.size()) +
                                    " bytes for " + std::to_string(cpus) + " CPUs"));
  core::RegisterCounters sum;
  for (std::size_t cpu = 0; cpu < cpus; ++cpu) {
    sr_counters c;
    std::memcpy(&c, data.data() + cpu * stride, sizeof c);
    sum.transitions += c.transitions;
    sum.inserts += c.inserts;
    sum.deletes += c.deletes;
    sum.insert_failures += c.insert_failures;
    sum.ring_drops += c.ring_drops;
    sum.tw_starts += c.tw_starts;
    sum.tw_restarts += c.tw_restarts;
    sum.tw_expires += c.tw_expires;
    sum.tw_kills += c.tw_kills;
    sum.tw_untracked += c.tw_untracked;
    sum.owners_learned += c.owners_learned;
    sum.superseded += c.superseded;
    sum.listener_misses += c.listener_misses;
    sum.tw_swept += c.tw_swept;
    sum.evictions += c.evictions;
    sum.reclaimed += c.reclaimed;
  }
  return sum;
}

core::Result<core::RegisterInfo> decode_register_info(std::span<const std::byte> data) {
  auto rec = copy_record<sr_info>(data, "state register info");
  if (!rec) return tl::unexpected(rec.error());
  if (rec->abi_version != SR_ABI_VERSION)
    return tl::unexpected(malformed("state register info: ABI version " +
                                    std::to_string(rec->abi_version) + ", this build reads " +
                                    std::to_string(SR_ABI_VERSION)));
  core::RegisterInfo info;
  info.host_pid = static_cast<std::int32_t>(rec->host_pid);
  info.host_start_ticks = rec->host_start_ticks;
  info.started_boot_ns = rec->started_boot_ns;
  info.started_real_ns = static_cast<std::int64_t>(rec->started_real_ns);
  info.max_entries = rec->max_entries;
  info.time_wait_traced = (rec->features & SR_FEAT_TIME_WAIT) != 0;
  return info;
}

std::optional<std::uint64_t> parse_stat_starttime(std::string_view stat) {
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  std::string_view rest = stat.substr(paren + 1);
  // Field 3 (state) is the first after ")", so starttime (22) is the 20th from here.
  for (int field = 3; field <= 22; ++field) {
    while (!rest.empty() && rest.front() == ' ')
      rest.remove_prefix(1);
    if (rest.empty()) return std::nullopt;
    const std::size_t sp = rest.find_first_of(" \n");
    const std::string_view token = rest.substr(0, sp);
    if (field == 22) {
      std::uint64_t v = 0;
      const auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
      if (ec != std::errc() || p != token.data() + token.size()) return std::nullopt;
      return v;
    }
    if (sp == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(sp);
  }
  return std::nullopt;
}

} // namespace sockdoctor::collect
