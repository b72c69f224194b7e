// Line mode of `top`: a text line or an NDJSON object per interval, written by hand so that raw
// process names keep the project's escaping (\xNN for invalid UTF-8).
#include "render/lines.hpp"

#include <fmt/format.h>

#include <ctime>

#include "render/escape.hpp"
#include "render/json_writer.hpp"
#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

using analyze::TopModel;

std::string snake(core::TcpState s) {
  return std::string(core::snake_name(s));
}

// Up to 3 decimals, no trailing zeros ("120", "0.25").
std::string num(double v) {
  std::string s;
  if (!append_trimmed_decimal(s, v, 3)) s = "null";
  return s;
}

void write_age(JsonWriter& w, const analyze::Age& a) {
  if (a.seconds)
    w.number_trimmed(*a.seconds, 3);
  else
    w.null();
}

void write_trend(JsonWriter& w, const std::optional<analyze::Trend>& t) {
  if (!t) {
    w.null();
    return;
  }
  w.begin_object().key("count").number(t->count).key("long_lived").number(t->long_lived);
  w.key("growth_per_min").number_trimmed(t->growth_per_min, 3);
  w.key("arrivals_per_min").number_trimmed(t->arrivals_per_min, 3);
  w.key("departures_per_min").number_trimmed(t->departures_per_min, 3);
  w.key("retained").number_trimmed(t->retained, 3);
  w.key("window_s").number_trimmed(t->window_seconds, 3);
  w.key("trend").string(analyze::trend_name(t->kind)).end_object();
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

namespace {

void write_states(JsonWriter& w, const TopModel& m) {
  w.key("states").begin_object();
  for (const auto s : core::kAllStates) {
    std::uint64_t count = 0;
    for (const auto& r : m.states)
      if (r.state == s) count = r.count;
    w.key_escaped(core::snake_name(s)).number(count);
  }
  w.end_object().key("listed_states").begin_array();
  for (const auto& r : m.states)
    if (r.listed) w.string(core::snake_name(r.state));
  w.end_array();
}

// {state: n} for the states where n (of a listed change) is not zero.
template <typename Value>
void write_state_map(JsonWriter& w, JsonKey name, const TopModel& m, Value&& value) {
  w.key(name).begin_object();
  for (const auto& r : m.states)
    if (const auto v = value(r); v != 0) w.key_escaped(core::snake_name(r.state)).number(v);
  w.end_object();
}

// name: [{...}, ...] for the first `max` rows, each object's members written by `members`.
template <typename Rows, typename Members>
void write_rows(JsonWriter& w, JsonKey name, const Rows& rows, std::size_t max, Members&& members) {
  w.key(name).begin_array();
  for (std::size_t i = 0; i < rows.size() && i < max; ++i) {
    w.begin_object();
    members(rows[i]);
    w.end_object();
  }
  w.end_array();
}

void write_lists(JsonWriter& w, const TopModel& m, std::size_t max) {
  write_rows(w, "holders", m.holders, max, [&](const analyze::HolderRow& h) {
    w.key("pid").number(h.pid).key("comm").string(h.comm);
    w.key("close_wait").number(h.close_wait).key("fin_wait2").number(h.fin_wait2);
    write_age(w.key("oldest_age_s"), h.oldest);
    w.key("age_basis").string(analyze::basis_name(h.oldest.basis));
    w.key("age_lower_bound").boolean(h.oldest.lower_bound);
    write_trend(w.key("trend"), h.trend);
  });
  write_rows(w, "peers", m.peers, max, [&](const analyze::PeerRow& p) {
    w.key("peer").string(p.peer).key("close_wait").number(p.close_wait);
    write_age(w.key("oldest_age_s"), p.oldest);
    write_trend(w.key("trend"), p.trend);
  });
  write_rows(w, "time_wait", m.time_wait, max, [&](const analyze::TimeWaitRow& t) {
    w.key("pid").number(t.pid).key("comm").string(t.comm);
    w.key("how").string(analyze::attribution_name(t.how)).key("where").string(t.where);
    w.key("time_wait").number(t.time_wait);
    write_age(w.key("oldest_age_s"), t.oldest);
  });
  write_rows(w, "destinations", m.destinations, max, [&](const analyze::DestinationRow& d) {
    w.key("destination").string(d.destination).key("source").string(d.source);
    w.key("in_use").number(d.in_use).key("time_wait").number(d.time_wait);
    w.key("usable").number(d.usable).key("fraction").number_trimmed(d.fraction, 3);
  });
  write_rows(w, "findings", m.findings, m.findings.size(), [&](const analyze::FindingLine& f) {
    w.key("severity").string(analyze::severity_name(f.severity));
    w.key("id").string(f.id).key("title").string(f.title);
  });
}

void write_optional_seconds(JsonWriter& w, JsonKey name, const std::optional<double>& v) {
  w.key(name);
  if (v)
    w.number_trimmed(*v, 3);
  else
    w.null();
}

} // namespace

std::string format_top_json(const TopModel& m, const LineOptions& o) {
  JsonWriter w;
  w.begin_object().key("schema_version").number(1).key("time").string(iso_time(m.time));
  w.key("sample").number(m.sample).key("interval_s").number_trimmed(o.interval_seconds, 3);
  w.key("total").number(m.total);
  write_states(w, m);
  write_state_map(w, "changed", m, [&](const analyze::StateRow& r) -> std::int64_t {
    return m.sample <= 1 ? 0 : r.changed;
  });
  write_state_map(w, "appeared", m, [](const analyze::StateRow& r) { return r.appeared; });
  write_state_map(w, "departed", m, [](const analyze::StateRow& r) { return r.departed; });
  write_trend(w.key("close_wait"), m.close_wait);
  write_lists(w, m, o.max_items);
  write_optional_seconds(w, "detail_age_s", m.detail_age_s);
  write_optional_seconds(w, "owners_age_s", m.owners_age_s);
  w.key("owners_denied").number(m.owners_denied).key("filter");
  if (m.query.filter.empty())
    w.null();
  else
    w.string(m.query.filter.describe());
  w.end_object();
  return w.take();
}

} // namespace sockdoctor::render
