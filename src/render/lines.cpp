// Line mode of `top`: a text line or an NDJSON object per interval, written by hand so that raw
// process names keep the project's escaping (\xNN for invalid UTF-8).
#include "render/lines.hpp"

#include <fmt/format.h>

#include <cmath>
#include <ctime>

#include "render/escape.hpp"

namespace sockdoctor::render {
namespace {

using analyze::TopModel;

std::string snake(core::TcpState s) {
  return std::string(core::snake_name(s));
}

// Up to 3 decimals, no trailing zeros; finite numbers only.
std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  std::string s = fmt::format("{:.3f}", v);
  while (s.back() == '0')
    s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

std::string json_string(std::string_view raw) {
  std::string out = "\"";
  append_json_string_body(out, raw);
  out += '"';
  return out;
}

std::string json_age(const analyze::Age& a) {
  return a.seconds ? num(*a.seconds) : "null";
}

std::string json_trend(const analyze::Trend& t) {
  return fmt::format(
      "{{\"count\":{},\"long_lived\":{},\"growth_per_min\":{},\"arrivals_per_min\":{},"
      "\"departures_per_min\":{},\"retained\":{},\"window_s\":{},\"trend\":\"{}\"}}",
      t.count, t.long_lived, num(t.growth_per_min), num(t.arrivals_per_min),
      num(t.departures_per_min), num(t.retained), num(t.window_seconds),
      analyze::trend_name(t.kind));
}

template <typename Rows, typename Fn>
std::string json_list(const Rows& rows, std::size_t max, Fn&& item) {
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size() && i < max; ++i) {
    if (i) out += ',';
    out += item(rows[i]);
  }
  return out + "]";
}

std::string json_holder(const analyze::HolderRow& h) {
  return fmt::format("{{\"pid\":{},\"comm\":{},\"close_wait\":{},\"fin_wait2\":{},"
                     "\"oldest_age_s\":{},\"age_basis\":\"{}\",\"age_lower_bound\":{},"
                     "\"trend\":{}}}",
                     h.pid, json_string(h.comm), h.close_wait, h.fin_wait2, json_age(h.oldest),
                     analyze::basis_name(h.oldest.basis), h.oldest.lower_bound,
                     h.trend ? json_trend(*h.trend) : "null");
}

std::string json_state_map(const TopModel& m, auto&& value) {
  std::string out = "{";
  bool first = true;
  for (const auto& r : m.states) {
    const auto v = value(r);
    if (!v) continue;
    out += fmt::format("{}\"{}\":{}", first ? "" : ",", snake(r.state), *v);
    first = false;
  }
  return out + "}";
}

std::string text_changes(const TopModel& m) {
  if (m.sample <= 1) return "first sample";
  std::string out;
  for (const auto& r : m.states) {
    if (r.changed == 0 && r.appeared == 0 && r.departed == 0) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {:+}", snake(r.state), r.changed);
    if (r.listed && (r.appeared || r.departed))
      out += fmt::format(" (+{}/-{})", r.appeared, r.departed);
  }
  return out.empty() ? "none" : out;
}

std::string text_trends(const TopModel& m, std::size_t max) {
  std::string out;
  std::size_t n = 0;
  for (const auto& h : m.holders) {
    if (!h.trend || h.trend->kind != analyze::TrendKind::Leak || n >= max) continue;
    out += n++ ? "; " : " | leak: ";
    out += h.pid > 0
               ? fmt::format("pid {} ({})", h.pid, escape_for_terminal(h.comm))
               : std::string(h.pid == analyze::kOwnerPending ? "owner pending" : "no process");
    out += fmt::format(" close_wait={} {}/min", h.close_wait, num(h.trend->growth_per_min));
  }
  const auto& cw = m.close_wait;
  if (cw.kind == analyze::TrendKind::Churn)
    out += fmt::format(" | churn: close_wait {}/min in, {}/min out", num(cw.arrivals_per_min),
                       num(cw.departures_per_min));
  return out;
}

} // namespace

std::string iso_time(analyze::Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t tt = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char date[32], zone[8];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  std::strftime(zone, sizeof zone, "%z", &tm); // "+0100"
  std::string z(zone);
  if (z.size() == 5) z.insert(3, ":");
  return fmt::format("{}.{:03}{}", date, static_cast<int>(ms.count() % 1000 + 1000) % 1000, z);
}

std::string format_top_line(const TopModel& m, const LineOptions& o) {
  std::string out = fmt::format("{} total={}", iso_time(m.time), m.total);
  for (const auto& r : m.states)
    if (r.count > 0) out += fmt::format(" {}={}{}", snake(r.state), r.listed ? "" : "~", r.count);
  out += " | changed: " + text_changes(m);
  out += text_trends(m, o.max_items);
  if (!m.findings.empty())
    out += fmt::format(" | findings: {} (worst: {} {})", m.findings.size(),
                       analyze::severity_name(m.findings.front().severity), m.findings.front().id);
  if (!m.query.filter.empty())
    out += " | filter: " + escape_for_terminal(m.query.filter.describe());
  out += '\n';
  return out;
}

std::string format_top_json(const TopModel& m, const LineOptions& o) {
  std::string out = fmt::format("{{\"schema_version\":1,\"time\":\"{}\",\"sample\":{},"
                                "\"interval_s\":{},\"total\":{}",
                                iso_time(m.time), m.sample, num(o.interval_seconds), m.total);
  out += ",\"states\":{";
  for (std::size_t i = 0; i < core::kAllStates.size(); ++i) {
    const auto s = core::kAllStates[i];
    std::uint64_t count = 0;
    for (const auto& r : m.states)
      if (r.state == s) count = r.count;
    out += fmt::format("{}\"{}\":{}", i ? "," : "", snake(s), count);
  }
  out += "},\"listed_states\":[";
  bool first = true;
  for (const auto& r : m.states) {
    if (!r.listed) continue;
    out += fmt::format("{}\"{}\"", first ? "" : ",", snake(r.state));
    first = false;
  }
  out += "]";
  using Opt = std::optional<std::string>;
  out += ",\"changed\":" + json_state_map(m, [&](const analyze::StateRow& r) -> Opt {
           if (m.sample <= 1 || r.changed == 0) return std::nullopt;
           return std::to_string(r.changed);
         });
  out += ",\"appeared\":" + json_state_map(m, [](const analyze::StateRow& r) -> Opt {
           return r.appeared ? Opt(std::to_string(r.appeared)) : std::nullopt;
         });
  out += ",\"departed\":" + json_state_map(m, [](const analyze::StateRow& r) -> Opt {
           return r.departed ? Opt(std::to_string(r.departed)) : std::nullopt;
         });
  out += ",\"close_wait\":" + json_trend(m.close_wait);
  out += ",\"holders\":" + json_list(m.holders, o.max_items, json_holder);
  out += ",\"peers\":" + json_list(m.peers, o.max_items, [](const analyze::PeerRow& p) {
           return fmt::format("{{\"peer\":{},\"close_wait\":{},\"oldest_age_s\":{},\"trend\":{}}}",
                              json_string(p.peer), p.close_wait, json_age(p.oldest),
                              p.trend ? json_trend(*p.trend) : "null");
         });
  out += ",\"time_wait\":" + json_list(m.time_wait, o.max_items, [](const auto& t) {
           return fmt::format("{{\"pid\":{},\"comm\":{},\"how\":\"{}\",\"where\":{},"
                              "\"time_wait\":{},\"oldest_age_s\":{}}}",
                              t.pid, json_string(t.comm), analyze::attribution_name(t.how),
                              json_string(t.where), t.time_wait, json_age(t.oldest));
         });
  out += ",\"destinations\":" + json_list(m.destinations, o.max_items, [](const auto& d) {
           return fmt::format("{{\"destination\":{},\"source\":{},\"in_use\":{},\"time_wait\":{},"
                              "\"usable\":{},\"fraction\":{}}}",
                              json_string(d.destination), json_string(d.source), d.in_use,
                              d.time_wait, d.usable, num(d.fraction));
         });
  out += ",\"findings\":" + json_list(m.findings, m.findings.size(), [](const auto& f) {
           return fmt::format("{{\"severity\":\"{}\",\"id\":{},\"title\":{}}}",
                              analyze::severity_name(f.severity), json_string(f.id),
                              json_string(f.title));
         });
  out +=
      fmt::format(",\"detail_age_s\":{},\"owners_age_s\":{},\"owners_denied\":{},\"filter\":{}}}",
                  m.detail_age_s ? num(*m.detail_age_s) : "null",
                  m.owners_age_s ? num(*m.owners_age_s) : "null", m.owners_denied,
                  m.query.filter.empty() ? "null" : json_string(m.query.filter.describe()));
  out += '\n';
  return out;
}

} // namespace sockdoctor::render
