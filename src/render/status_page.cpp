// The status page HTML. Every raw string (process names, titles, namespace names) goes through
// html_text: process names are chosen by whoever runs the process.
#include "render/status_page.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>
#include <sstream>

#include "core/duration.hpp"
#include "core/tcp_state.hpp"
#include "render/escape.hpp"
#include "render/history.hpp"

namespace sockdoctor::render {
namespace {

constexpr const char* kStyle = "body{font-family:sans-serif;margin:1.5em;max-width:75em;color:#222}"
                               "table{border-collapse:collapse;margin:.5em 0}"
                               "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
                               "td.n{text-align:right;font-variant-numeric:tabular-nums}"
                               ".warning{color:#a60}.critical{color:#c00}.info{color:#555}"
                               ".charts svg{max-width:100%;height:auto;margin:.5em 0}";

void list(std::ostream& out, const std::vector<std::string>& lines) {
  out << "<ul>\n";
  for (const auto& l : lines)
    out << "<li>" << html_text(l) << "</li>\n";
  out << "</ul>\n";
}

std::string age_text(const analyze::Age& a) {
  if (!a.seconds) return "-";
  return (a.lower_bound ? "&gt;" : a.estimate ? "~" : "") + core::compact_duration(*a.seconds);
}

void states(std::ostream& out, const analyze::HostModel& m) {
  // The sample's counts cover every state, also those a light dump did not list one by one.
  const auto& counts = m.sample->counts;
  out << "<h2>Sockets by state</h2>\n<table id=\"states\"><tr><th>State</th><th>Sockets</th>"
         "</tr>\n";
  std::uint64_t total = 0;
  for (auto s : core::kAllStates) {
    const auto n = counts[static_cast<std::size_t>(s)];
    total += n;
    out << fmt::format("<tr><td>{}</td><td class=\"n\">{}</td></tr>\n", html_text(core::ss_name(s)),
                       n);
  }
  out << fmt::format("<tr><th>Total</th><td class=\"n\">{}</td></tr>\n</table>\n", total);
}

void findings(std::ostream& out, const analyze::HostModel& m, std::size_t max) {
  const auto& f = m.diagnosis.findings;
  out << "<h2>Worst findings</h2>\n";
  if (f.empty()) {
    out << "<p>None: nothing stuck worth a warning.</p>\n";
    return;
  }
  out << "<table id=\"findings\"><tr><th>Severity</th><th>Finding</th><th>Sockets</th>"
         "<th>Oldest</th></tr>\n";
  for (std::size_t i = 0; i < f.size() && i < max; ++i) {
    const auto sev = analyze::severity_name(f[i].severity);
    std::string oldest = "-";
    if (f[i].oldest_age_seconds)
      oldest = (f[i].oldest_age_lower_bound ? "&gt;" : "") +
               core::compact_duration(*f[i].oldest_age_seconds);
    out << fmt::format("<tr><td class=\"{0}\">{0}</td><td>{1}</td><td class=\"n\">{2}</td>"
                       "<td class=\"n\">{3}</td></tr>\n",
                       html_text(sev), html_text(f[i].title), f[i].count, oldest);
  }
  out << "</table>\n";
  if (f.size() > max)
    out << fmt::format("<p>and {} more (<code>sockdoctor check</code>)</p>\n", f.size() - max);
}

void holders(std::ostream& out, const analyze::HostModel& m, std::size_t max) {
  out << "<h2>Top holders of stuck sockets</h2>\n";
  if (m.holders.empty()) {
    out << "<p>No process holds CLOSE_WAIT or FIN_WAIT2 sockets.</p>\n";
    return;
  }
  out << "<table id=\"holders\"><tr><th>Pid</th><th>Process</th><th>CLOSE_WAIT</th>"
         "<th>FIN_WAIT2</th><th>Oldest</th></tr>\n";
  for (std::size_t i = 0; i < m.holders.size() && i < max; ++i) {
    const auto& h = m.holders[i];
    const std::string pid = h.pid > 0 ? std::to_string(h.pid) : "-";
    const std::string name = h.comm.empty() ? "(no process)" : h.comm;
    out << fmt::format("<tr><td class=\"n\">{}</td><td class=\"holder\">{}</td>"
                       "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                       "</tr>\n",
                       pid, html_text(name), h.close_wait, h.fin_wait2, age_text(h.oldest));
  }
  out << "</table>\n";
}

// The chart SVG without its XML declaration (inside HTML it would be a bogus comment).
void inline_svg(std::ostream& out, const ChartSeries& s, const std::string& subtitle) {
  std::ostringstream svg;
  render_history_svg(svg, s, subtitle);
  auto text = std::move(svg).str();
  if (text.starts_with("<?xml")) text.erase(0, text.find('\n') + 1);
  out << text;
}

void charts(std::ostream& out, const StatusPageFacts& f, const store::HistoryTrends* t) {
  out << "<h2>History (last " << html_text(f.history_window) << ")</h2>\n";
  if (t == nullptr || t->times.empty()) {
    out << "<p>"
        << html_text(f.history_note.empty() ? "nothing recorded in this window yet"
                                            : f.history_note)
        << "</p>\n";
    return;
  }
  out << "<div class=\"charts\">\n";
  HistoryRenderOptions ro{.now = f.now};
  const std::string span = utc_time(t->times.front()) + " to " + utc_time(t->times.back());
  inline_svg(out, chart_series(*t, ro), span);
  std::size_t shown = 0;
  for (const auto& h : t->holders) {
    if (shown == f.max_holder_charts || h.name.empty() || h.peak_close_wait == 0) continue;
    ro.holder = h.name;
    inline_svg(out, chart_series(*t, ro), span);
    ++shown;
  }
  out << "</div>\n";
}

} // namespace

std::string html_text(std::string_view raw) {
  return escape_for_markup(raw);
}

void render_status_sample(std::ostream& out,
                          const StatusPageFacts& f,
                          const analyze::HostModel& model) {
  if (model.diagnosis.owners_incomplete())
    out << "<p class=\"warning\">Some owners could not be named (see what it cannot "
           "see).</p>\n";
  states(out, model);
  findings(out, model, f.max_findings);
  holders(out, model, f.max_holders);
}

void render_status_page(std::ostream& out,
                        const StatusPageFacts& f,
                        std::string_view sample_html,
                        const store::HistoryTrends* trends) {
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  if (f.refresh_s > 0)
    out << fmt::format("<meta http-equiv=\"refresh\" content=\"{}\">\n", f.refresh_s);
  out << "<title>sockdoctor status</title>\n<style>" << kStyle << "</style></head>\n<body>\n"
      << "<h1>sockdoctor status</h1>\n<p>Version " << html_text(f.version);
  if (f.sampled_at > 0) out << " &middot; sample of " << html_text(utc_time(f.sampled_at));
  out << " &middot; <a href=\"/metrics\">Metrics</a> (Prometheus text format, or OpenMetrics "
         "when asked for)</p>\n";
  if (sample_html.empty())
    out << "<p>No sample yet.</p>\n";
  else
    out << sample_html;
  charts(out, f, trends);
  out << "<h2>What it watches</h2>\n";
  list(out, f.scope);
  out << "<h2>What it cannot see</h2>\n";
  if (f.missing.empty())
    out << "<p>Nothing: it has every privilege it uses.</p>\n";
  else
    list(out, f.missing);
  out << "</body></html>\n";
}

} // namespace sockdoctor::render
