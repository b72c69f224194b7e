// `sockdoctor history --json`: one indented document, schema_version 1, times in Unix seconds.
#include <ostream>

#include "core/tcp_state.hpp"
#include "render/history.hpp"
#include "render/json_writer.hpp"

namespace sockdoctor::render {
namespace {

void optional_number(JsonWriter& w, const std::optional<double>& v) {
  v ? w.number(*v) : w.null();
}

void pids(JsonWriter& w, const std::vector<std::int32_t>& list) {
  w.begin_array();
  for (auto p : list)
    w.number(p);
  w.end_array();
}

void numbers(JsonWriter& w, const std::vector<double>& list) {
  w.begin_array();
  for (double v : list)
    w.number(v);
  w.end_array();
}

void write_holder(JsonWriter& w, const store::HolderTrend& h, bool series) {
  w.begin_object().key("name").string(h.name).key("process").boolean(!h.pids.empty());
  pids(w.key("pids"), h.pids);
  w.key("close_wait").number(h.close_wait).key("fin_wait2").number(h.fin_wait2);
  w.key("peak_close_wait").number(h.peak_close_wait);
  optional_number(w.key("oldest_age_s"), h.oldest_s);
  w.key("first_seen").number(h.first_seen).key("last_seen").number(h.last_seen);
  optional_number(w.key("onset"), h.onset);
  w.key("onset_at_window_start").boolean(h.onset_at_window_start);
  w.key("growth_per_hour").number_trimmed(h.growth_per_hour, 3);
  w.key("rising").boolean(h.rising());
  w.key("restarts").begin_array();
  for (const auto& r : h.restarts) {
    w.begin_object().key("time").number(r.time);
    pids(w.key("before"), r.before);
    pids(w.key("after"), r.after);
    w.end_object();
  }
  w.end_array();
  if (series) numbers(w.key("close_wait_series"), h.close_wait_series);
  w.end_object();
}

void write_window(JsonWriter& w, const store::History& h, const store::HistoryTrends& t) {
  w.key("window").begin_object();
  optional_number(w.key("start"), t.times.empty() ? std::nullopt : std::optional(t.times.front()));
  optional_number(w.key("end"), t.times.empty() ? std::nullopt : std::optional(t.times.back()));
  w.key("since").number(h.window_start);
  w.key("intervals").number(t.times.size());
  optional_number(w.key("interval_s"), t.interval_s);
  w.end_object();
  w.key("recorded").begin_object().key("intervals").number(h.intervals_in_database);
  optional_number(w.key("first"), h.first_recorded);
  optional_number(w.key("last"), h.last_recorded);
  w.end_object();
}

void write_daemon(JsonWriter& w, const store::HistoryTrends& t) {
  w.key("recorder").begin_object().key("restarts").number(t.daemon_restarts);
  w.key("runs").begin_array();
  for (const auto& r : t.runs)
    w.begin_object()
        .key("started")
        .number(r.run.started)
        .key("pid")
        .number(r.run.pid)
        .key("interval_s")
        .number(r.run.interval_s)
        .key("version")
        .string(r.run.version)
        .key("restart")
        .boolean(r.restart)
        .end_object();
  w.end_array();
  w.key("gaps").begin_array();
  for (const auto& g : t.gaps)
    w.begin_object().key("from").number(g.from).key("to").number(g.to).end_object();
  w.end_array().end_object();
}

} // namespace

void render_history_json(std::ostream& out,
                         const store::History& h,
                         const store::HistoryTrends& t,
                         const HistoryRenderOptions& opt) {
  JsonWriter w(out, JsonLayout::Indented);
  w.begin_object().key("schema_version").number(1).key("database").string(h.path);
  w.key("history").boolean(!t.times.empty());
  w.key("holder_filter");
  opt.holder.empty() ? w.null() : w.string(opt.holder);
  write_window(w, h, t);
  write_daemon(w, t);
  w.key("states").begin_object();
  for (auto s : core::kAllStates)
    if (auto n = t.states_now[static_cast<std::size_t>(s)]; n > 0)
      w.key_escaped(core::snake_name(s)).number(n);
  w.end_object();
  w.key("holders").begin_array();
  for (const auto& holder : t.holders)
    write_holder(w, holder, !opt.holder.empty());
  w.end_array();
  w.key("findings").begin_array();
  for (const auto& f : t.findings)
    w.begin_object()
        .key("id")
        .string(f.rule)
        .key("severity")
        .string(analyze::severity_name(f.severity))
        .key("title")
        .string(f.title)
        .key("pid")
        .number(f.pid)
        .key("count")
        .number(f.count)
        .end_object();
  w.end_array();
  w.key("series").begin_object();
  numbers(w.key("time"), t.times);
  numbers(w.key("close_wait"), t.close_wait_total);
  w.end_object();
  w.end_object();
  w.finish();
}

} // namespace sockdoctor::render
