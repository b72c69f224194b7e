// Text lines of `sockdoctor trace`: fixed columns (no measuring pass: it is a live stream).
#include "render/trace_text.hpp"

#include <fmt/format.h>

#include <ctime>

#include "render/escape.hpp"

namespace sockdoctor::render {
namespace {

std::string clock_time(std::int64_t real_ns) {
  const std::time_t secs = static_cast<std::time_t>(real_ns / 1'000'000'000);
  const int ms = static_cast<int>((real_ns / 1'000'000) % 1000);
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return fmt::format("{}.{:03}", buf, ms < 0 ? ms + 1000 : ms);
}

std::string_view kind_suffix(core::TransitionKind k) {
  switch (k) {
  case core::TransitionKind::TimeWaitStart:
    return " [tw]"; // the full socket became a timewait mini-socket
  case core::TransitionKind::TimeWaitRestart:
    return " [tw restart]";
  case core::TransitionKind::TimeWaitExpire:
    return " [expired]";
  case core::TransitionKind::TimeWaitKill:
    return " [killed]";
  case core::TransitionKind::State:
    break;
  }
  return "";
}

std::string_view role_word(core::OwnerRole r) {
  switch (r) {
  case core::OwnerRole::Connect:
    return "connected";
  case core::OwnerRole::Listen:
    return "listened";
  case core::OwnerRole::Accept:
    return "listener's";
  case core::OwnerRole::Close:
    return "closed";
  case core::OwnerRole::Unknown:
    break;
  }
  return "";
}

std::string owner_text(const core::TracedOwner& o) {
  if (!o.known()) return "-";
  std::string out = fmt::format("{}/", o.pid);
  append_escaped_for_terminal(out, o.comm);
  if (auto w = role_word(o.role); !w.empty()) fmt::format_to(std::back_inserter(out), " ({})", w);
  return out;
}

} // namespace

std::string format_trace_duration(std::uint64_t ns) {
  if (ns < 1'000'000) return fmt::format("{}us", ns / 1000);
  if (ns < 1'000'000'000) return fmt::format("{:.1f}ms", static_cast<double>(ns) / 1e6);
  if (ns < 60'000'000'000ULL) return fmt::format("{:.3f}s", static_cast<double>(ns) / 1e9);
  const std::uint64_t s = ns / 1'000'000'000;
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string_view trace_state_name(core::TcpState s) {
  return s == core::TcpState::Close ? "CLOSE" : core::ss_name(s);
}

std::string format_trace_header() {
  return fmt::format("{:<12}  {:<10}  {:<21} {:<21} {:<25} {:>8}  {}\n", "TIME", "NETNS", "LOCAL",
                     "PEER", "TRANSITION", "IN-OLD", "OWNER");
}

std::string format_trace_row(const core::SocketTransition& t, const core::RegisterInfo& info) {
  const std::string transition = fmt::format("{} -> {}{}", trace_state_name(t.old_state),
                                             trace_state_name(t.new_state), kind_suffix(t.kind));
  const std::string in_old = t.in_old_state_ns ? format_trace_duration(*t.in_old_state_ns) : "?";
  return fmt::format("{:<12}  {:<10}  {:<21} {:<21} {:<25} {:>8}  {}\n",
                     clock_time(info.to_real_ns(t.time_boot_ns)), t.netns_ino,
                     core::to_string(t.local), core::to_string(t.peer), transition, in_old,
                     owner_text(t.owner));
}

std::string format_trace_summary(const TraceSummaryView& v) {
  const auto& c = v.counters;
  std::string out =
      fmt::format("-- {} transitions in {:.1f} s ({} shown)", v.received, v.seconds, v.shown);
  out +=
      fmt::format("; register: {} of {} entries", v.live_entries ? *v.live_entries : 0, v.capacity);
  out += fmt::format(", {} evicted", c.evictions);
  out +=
      fmt::format(", {} not stored, {} events lost (ring full)", c.insert_failures, c.ring_drops);
  if (c.reclaimed) out += fmt::format(", {} ended TIME_WAIT entries reused", c.reclaimed);
  if (c.skipped_runs > 0)
    out += fmt::format(", {} events skipped by the kernel (nested)", c.skipped_runs);
  if (v.malformed > 0) out += fmt::format(", {} undecodable", v.malformed);
  if (!v.time_wait_traced) out += "; TIME_WAIT not traced";
  out += "\n";
  if (v.pairs.empty()) return out;
  out += fmt::format("{:<38} {:>8} {:>9} {:>9} {:>9} {:>9}\n", "TRANSITION (time in the old state)",
                     "COUNT", "P50", "P90", "P99", "MAX");
  for (const auto& p : v.pairs) {
    const std::string name = fmt::format("{} -> {}{}", trace_state_name(p.from),
                                         trace_state_name(p.to), kind_suffix(p.kind));
    auto d = [&p](std::uint64_t ns) {
      return p.in_from.samples == 0 ? std::string("?") : format_trace_duration(ns);
    };
    out += fmt::format("{:<38} {:>8} {:>9} {:>9} {:>9} {:>9}\n", name, p.count, d(p.in_from.p50_ns),
                       d(p.in_from.p90_ns), d(p.in_from.p99_ns), d(p.in_from.max_ns));
  }
  return out;
}

} // namespace sockdoctor::render
