// `sockdoctor history` for people: what the window holds, who is leaking since when and how
// fast, pid changes and recorder restarts, findings at the end of the window, and the chart.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <ostream>

#include "core/duration.hpp"
#include "render/escape.hpp"
#include "render/history.hpp"
#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

std::tm utc_tm(double t) {
  const auto secs = static_cast<std::time_t>(std::floor(t));
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return tm;
}

// Times inside the window: the clock alone when it spans less than a day.
struct Clock {
  bool dates = false;
  std::string operator()(double t) const {
    return dates ? fmt::format("{:%m-%d %H:%M}", utc_tm(t)) : fmt::format("{:%H:%M:%S}", utc_tm(t));
  }
};

std::string holder_name(const store::HolderTrend& h) {
  return h.pids.empty() && h.name.empty() ? "(no process)" : escape_for_terminal(h.name);
}

std::string pid_list(const std::vector<std::int32_t>& pids, std::size_t max = 3) {
  std::string s;
  for (std::size_t i = 0; i < pids.size() && i < max; ++i)
    s += (i ? "," : "") + std::to_string(pids[i]);
  if (pids.size() > max) s += fmt::format(",+{}", pids.size() - max);
  return s.empty() ? "-" : s;
}

std::string growth(double per_hour) {
  std::string s = per_hour > 0 ? "+" : "";
  if (!append_trimmed_decimal(s, per_hour, std::abs(per_hour) < 10 ? 1 : 0)) return "-";
  return s == "+0" || s == "0" ? "0" : s;
}

void header(std::string& o,
            const store::History& h,
            const store::HistoryTrends& t,
            const HistoryRenderOptions& opt,
            const Clock& clock) {
  const double first = t.times.front(), last = t.times.back();
  o += fmt::format("History in {}: {} to {} ({}, {} interval{}", escape_for_terminal(h.path),
                   utc_time(first), clock(last), core::compact_duration(last - first),
                   t.times.size(), t.times.size() == 1 ? "" : "s");
  if (t.interval_s && *t.interval_s < 10) { // "0.5s", "2s": sub-second test intervals too
    o += " of ";
    append_trimmed_decimal(o, *t.interval_s, 1);
    o += "s";
  } else if (t.interval_s) {
    o += " of " + core::compact_duration(*t.interval_s + 0.5);
  }
  o += fmt::format("), last {} ago\n", core::compact_duration(opt.now - last));
  std::string states;
  for (auto s : core::kAllStates) {
    const auto n = t.states_now[static_cast<std::size_t>(s)];
    if (n > 0) states += fmt::format("{}{} {}", states.empty() ? "" : ", ", core::ss_name(s), n);
  }
  o += fmt::format("  now       {}\n", states.empty() ? "no TCP sockets" : states);
  std::string runs;
  for (const auto& r : t.runs)
    runs += fmt::format("{}{} {} (pid {})", runs.empty() ? "" : "; ",
                        r.restart ? "restarted" : "started", clock(r.run.started), r.run.pid);
  o += fmt::format("  recorder  {}\n", runs.empty() ? "running since before the window" : runs);
  for (std::size_t i = 0; i < t.gaps.size() && i < 5; ++i)
    o += fmt::format("  gap       nothing recorded from {} to {} ({})\n", clock(t.gaps[i].from),
                     clock(t.gaps[i].to), core::compact_duration(t.gaps[i].to - t.gaps[i].from));
  if (t.gaps.size() > 5) o += fmt::format("  gap       and {} more\n", t.gaps.size() - 5);
}

void holders_table(std::string& o,
                   const store::HistoryTrends& t,
                   const HistoryRenderOptions& opt,
                   const Clock& clock) {
  if (t.holders.empty()) {
    o += opt.holder.empty() ? "\nNo process held CLOSE_WAIT or FIN_WAIT2 sockets in this window.\n"
                            : fmt::format("\nNo process named '{}' held CLOSE_WAIT or FIN_WAIT2 "
                                          "sockets in this window.\n",
                                          escape_for_terminal(opt.holder));
    return;
  }
  const std::size_t name_w = 16;
  o += fmt::format("\n{:<16} {:<12} {:>10} {:>6} {:>6} {:>9}  {}\n", "HOLDER", "PIDS", "CLOSE-WAIT",
                   "PEAK", "FIN-W2", "GROWTH/H", "RISING SINCE");
  for (const auto& h : t.holders) {
    std::string onset = "-";
    if (h.onset)
      onset = fmt::format("{}{} ({} ago)", h.onset_at_window_start ? "<=" : "", clock(*h.onset),
                          core::compact_duration(opt.now - *h.onset));
    o += fit(holder_name(h), name_w) + " ";
    o +=
        fmt::format("{:<12} {:>10} {:>6} {:>6} {:>9}  {}\n", fit(pid_list(h.pids), 12),
                    h.close_wait, h.peak_close_wait, h.fin_wait2, growth(h.growth_per_hour), onset);
    for (const auto& r : h.restarts)
      o += fmt::format("{:<16} pid {} -> {} at {}\n", "", pid_list(r.before), pid_list(r.after),
                       clock(r.time));
  }
}

void findings_now(std::string& o, const store::HistoryTrends& t, int width) {
  if (t.findings.empty()) return;
  o += "\nFindings at the last interval:\n";
  for (const auto& f : t.findings) {
    std::string line = fmt::format("  {:<8} ", analyze::severity_name(f.severity));
    for (auto& c : line)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    o +=
        line +
        truncate(escape_for_terminal(f.title), static_cast<std::size_t>(std::max(20, width - 11))) +
        "\n";
  }
}

} // namespace

std::string utc_time(double unix_seconds) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", utc_tm(unix_seconds));
}

ChartSeries chart_series(const store::HistoryTrends& t, const HistoryRenderOptions& opt) {
  if (!opt.holder.empty())
    for (const auto& h : t.holders)
      if (h.name == opt.holder)
        return {"CLOSE_WAIT sockets held by " + opt.holder, t.times, h.close_wait_series};
  return {"CLOSE_WAIT sockets on the host", t.times, t.close_wait_total};
}

void render_history_text(std::ostream& out,
                         const store::History& h,
                         const store::HistoryTrends& t,
                         const HistoryRenderOptions& opt) {
  std::string o;
  if (t.times.empty()) {
    if (!h.last_recorded)
      o = fmt::format("No history yet in {}: nothing has been recorded. `sockdoctor serve` "
                      "records an interval every --interval seconds.\n",
                      escape_for_terminal(h.path));
    else
      o = fmt::format("No history in {} since {}: the newest interval is from {} ({} ago); "
                      "widen --since.\n",
                      escape_for_terminal(h.path), utc_time(h.window_start),
                      utc_time(*h.last_recorded),
                      core::compact_duration(opt.now - *h.last_recorded));
    out << o;
    return;
  }
  const Clock clock{t.times.back() - t.times.front() >= 86400 ||
                    utc_time(t.times.front()).substr(0, 10) !=
                        utc_time(t.times.back()).substr(0, 10)};
  header(o, h, t, opt, clock);
  holders_table(o, t, opt, clock);
  findings_now(o, t, opt.width);
  if (opt.chart) {
    const auto s = chart_series(t, opt);
    o += "\n" + escape_for_terminal(s.title) + " (UTC)\n";
    append_text_chart(o, s, opt.width, opt.chart_height);
  }
  out << o;
}

} // namespace sockdoctor::render
