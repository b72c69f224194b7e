// Renders a window of recorded history (`sockdoctor history`): per holder the onset and growth
// of its CLOSE_WAIT count, pid changes, recorder restarts, and a chart; as text, JSON or SVG.
// The trends are computed by store::history_trends; nothing here computes them.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "store/history.hpp"
#include "store/history_trends.hpp"

namespace sockdoctor::render {

struct HistoryRenderOptions {
  std::string holder; // the --holder filter that was applied ("" none)
  double now = 0;     // Unix time, for "5m ago"
  int width = 80;     // terminal columns (text)
  int chart_height = 8;
  bool chart = true; // text: draw the chart
};

// The series the chart shows: the filtered holder's CLOSE_WAIT count when --holder names one
// that was seen, else the host's CLOSE_WAIT count.
struct ChartSeries {
  std::string title; // raw (may hold a process name)
  std::vector<double> time;
  std::vector<double> value;
};
ChartSeries chart_series(const store::HistoryTrends& t, const HistoryRenderOptions& opt);

// "2026-12-07 04:10:05 UTC".
std::string utc_time(double unix_seconds);

void render_history_text(std::ostream& out,
                         const store::History& h,
                         const store::HistoryTrends& t,
                         const HistoryRenderOptions& opt);

// One document, schema_version 1 (the members are listed in the command's --help).
void render_history_json(std::ostream& out,
                         const store::History& h,
                         const store::HistoryTrends& t,
                         const HistoryRenderOptions& opt);

// The text chart: `height` rows of block characters, a y axis with the maximum and 0, and the
// first and last time under it; at most `width` columns. Each column shows the largest value of
// the intervals it covers. Appends nothing for an empty series.
void append_text_chart(std::string& out, const ChartSeries& s, int width, int height);

// A self-contained SVG picture of the same chart (no scripts, fonts or external references).
void render_history_svg(std::ostream& out, const ChartSeries& s, const std::string& subtitle);

} // namespace sockdoctor::render
