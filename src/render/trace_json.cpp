// NDJSON of `sockdoctor trace --json`: fmt into one string per object, strings escaped.
#include "render/trace_json.hpp"

#include <fmt/format.h>

#include <chrono>

#include "render/escape.hpp"
#include "render/lines.hpp"

namespace sockdoctor::render {
namespace {

void append_endpoint(std::string& out, const core::Endpoint& e) {
  fmt::format_to(std::back_inserter(out), "{{\"addr\":\"{}\",\"port\":{}}}",
                 core::to_string(e.addr), e.port);
}

void append_owner(std::string& out, const core::TracedOwner& o) {
  if (!o.known()) {
    out += "null";
    return;
  }
  fmt::format_to(std::back_inserter(out), "{{\"pid\":{},\"uid\":{},\"cgroup_id\":{},\"comm\":\"",
                 o.pid, o.uid, o.cgroup_id);
  append_json_string_body(out, o.comm);
  fmt::format_to(std::back_inserter(out), "\",\"role\":\"{}\"}}", core::owner_role_name(o.role));
}

std::string seconds_or_null(std::optional<std::uint64_t> ns) {
  return ns ? fmt::format("{:.6f}", static_cast<double>(*ns) / 1e9) : "null";
}

} // namespace

std::string format_trace_json_event(const core::SocketTransition& t,
                                    const core::RegisterInfo& info) {
  const auto when = analyze::Clock::time_point(std::chrono::duration_cast<analyze::Clock::duration>(
      std::chrono::nanoseconds(info.to_real_ns(t.time_boot_ns))));
  std::string out = fmt::format(
      "{{\"type\":\"transition\",\"time\":\"{}\",\"time_boot_ns\":{},\"time_from_timer\":{},"
      "\"cookie\":\"{}\","
      "\"netns\":{},\"family\":\"{}\",\"local\":",
      iso_time(when), t.time_boot_ns, t.time_from_timer, t.cookie, t.netns_ino,
      t.local.addr.family == core::Family::Ipv6 ? "ipv6" : "ipv4");
  append_endpoint(out, t.local);
  out += ",\"peer\":";
  append_endpoint(out, t.peer);
  fmt::format_to(std::back_inserter(out),
                 ",\"old_state\":\"{}\",\"new_state\":\"{}\",\"kind\":\"{}\",\"in_old_state_s\":{},"
                 "\"in_old_state_basis\":{},\"tracked\":{},\"born_traced\":{},\"owner\":",
                 core::snake_name(t.old_state), core::snake_name(t.new_state),
                 core::transition_kind_name(t.kind), seconds_or_null(t.in_old_state_ns),
                 !t.in_old_state_ns ? "null"
                 : t.old_from_timer ? "\"timer\""
                                    : "\"traced\"",
                 t.tracked, t.born_traced);
  append_owner(out, t.owner);
  out += "}\n";
  return out;
}

std::string format_trace_json_summary(const TraceSummaryView& v) {
  std::string out = fmt::format(
      "{{\"type\":\"summary\",\"seconds\":{:.3f},\"received\":{},\"shown\":{},\"pairs\":[",
      v.seconds, v.received, v.shown);
  bool first = true;
  for (const auto& p : v.pairs) {
    if (!first) out += ',';
    first = false;
    const bool timed = p.in_from.samples > 0;
    auto s = [timed](std::uint64_t ns) {
      return timed ? seconds_or_null(ns) : std::string("null");
    };
    fmt::format_to(std::back_inserter(out),
                   "{{\"from\":\"{}\",\"to\":\"{}\",\"kind\":\"{}\",\"count\":{},\"timed\":{},"
                   "\"p50_s\":{},\"p90_s\":{},\"p99_s\":{},\"max_s\":{}}}",
                   core::snake_name(p.from), core::snake_name(p.to),
                   core::transition_kind_name(p.kind), p.count, p.in_from.samples,
                   s(p.in_from.p50_ns), s(p.in_from.p90_ns), s(p.in_from.p99_ns),
                   s(p.in_from.max_ns));
  }
  const auto& c = v.counters;
  const std::string entries = v.live_entries ? std::to_string(*v.live_entries) : "null";
  fmt::format_to(std::back_inserter(out),
                 "],\"register\":{{\"capacity\":{},\"entries\":{},\"evicted\":{},\"reclaimed\":{},"
                 "\"insert_failures\":{},\"ring_drops\":{},\"malformed\":{},"
                 "\"time_wait_traced\":{},\"transitions\":{},\"inserts\":{},\"deletes\":{},"
                 "\"tw_starts\":{},\"tw_restarts\":{},\"tw_expires\":{},\"tw_kills\":{},"
                 "\"tw_untracked\":{},\"tw_swept\":{},\"superseded\":{},\"owners_learned\":{},"
                 "\"listener_misses\":{},\"skipped_runs\":{}}}}}\n",
                 v.capacity, entries, c.evictions, c.reclaimed, c.insert_failures, c.ring_drops,
                 v.malformed, v.time_wait_traced, c.transitions, c.inserts, c.deletes, c.tw_starts,
                 c.tw_restarts, c.tw_expires, c.tw_kills, c.tw_untracked, c.tw_swept, c.superseded,
                 c.owners_learned, c.listener_misses, c.skipped_runs);
  return out;
}

} // namespace sockdoctor::render
