// The live status page `serve` answers at "/": counts per state, the worst findings, the top
// holders with their ages, and the history charts of the last hours, as one self-contained HTML
// document (inline SVG, no scripts, no external assets) that refreshes itself.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "analyze/host_model.hpp"
#include "store/history_trends.hpp"

namespace sockdoctor::render {

struct StatusPageFacts {
  std::string version;
  std::vector<std::string> scope;   // what the exporter watches, one line each (raw)
  std::vector<std::string> missing; // what it cannot see, one line each (raw)
  double now = 0;                   // Unix time of the page
  double sampled_at = 0;            // Unix time of the sample shown (0: none yet)
  int refresh_s = 30;               // <meta http-equiv=refresh>; 0: none
  std::size_t max_findings = 5;
  std::size_t max_holders = 10;
  std::size_t max_holder_charts = 3; // holders with a chart of their own
  std::string history_window;        // "6h": what the charts cover
  std::string history_note;          // why there are no charts ("" when there are)
};

// The part of the page one sample gives (states, findings, holders): rendered when the sample
// is taken, so that serve keeps a few kilobytes between scrapes rather than the sample.
void render_status_sample(std::ostream& out,
                          const StatusPageFacts& facts,
                          const analyze::HostModel& model);

// The page around it: `sample_html` from render_status_sample ("" none yet); `trends`: the
// history window (nullptr: none).
void render_status_page(std::ostream& out,
                        const StatusPageFacts& facts,
                        std::string_view sample_html,
                        const store::HistoryTrends* trends);

// Raw text as HTML text or attribute value: the terminal escape first (controls, bidi), then
// HTML's five specials.
std::string html_text(std::string_view raw);

} // namespace sockdoctor::render
