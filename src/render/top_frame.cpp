// Lays out the `top` screen in rows and columns and turns it into one synchronized-output frame.
#include "render/top_frame.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "core/duration.hpp"
#include "render/escape.hpp"
#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

using analyze::TopModel;

// Exactly `width` cells of escaped text (none for a width below 1).
std::string fit_cells(std::string_view text, int width, Align align = Align::Left) {
  return fit(text, static_cast<std::size_t>(std::max(width, 0)), align);
}

std::string age_text(const analyze::Age& a) {
  if (!a.seconds) return "-";
  return std::string(age_mark(a)) + core::compact_duration(*a.seconds);
}

std::string signed_number(double v, int decimals) {
  if (std::fabs(v) < 0.05) return "0";
  return fmt::format("{:+.{}f}", v, decimals);
}

std::string trend_text(const std::optional<analyze::Trend>& t) {
  if (!t) return "";
  if (t->kind == analyze::TrendKind::WarmingUp) return "warming";
  return std::string(analyze::trend_name(t->kind));
}

std::string growth_text(const std::optional<analyze::Trend>& t) {
  if (!t || t->kind == analyze::TrendKind::WarmingUp) return "";
  return signed_number(t->growth_per_min, 1);
}

std::string process_label(std::int32_t pid, const std::string& comm) {
  if (pid == analyze::kOwnerPending) return "(owner pending)";
  if (pid <= 0) return "(no process)";
  return comm.empty() ? "?" : escape_for_terminal(comm);
}

// Sockets without an fd: FIN_WAIT2 after close() is an orphan; CLOSE_WAIT without an fd was never
// accept()ed (kernel-facts section 1).
std::string holder_label(const analyze::HolderRow& h) {
  if (h.pid == analyze::kNoOwner && h.close_wait == 0) return "(orphaned)";
  if (h.pid == analyze::kNoOwner && h.fin_wait2 == 0) return "(not accepted)";
  return process_label(h.pid, h.comm);
}

std::string pid_label(std::int32_t pid) {
  if (pid == analyze::kOwnerPending) return "?";
  if (pid <= 0) return "-";
  return std::to_string(pid);
}

// Columns: {width, right-aligned}; a width of 0 takes what is left.
struct Col {
  int width;
  bool right;
};

std::string row(const std::vector<Col>& cols, const std::vector<std::string>& cells, int total) {
  int fixed = 0;
  for (const auto& c : cols)
    fixed += c.width + 1;
  std::string out;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    const int w = cols[i].width > 0 ? cols[i].width : std::max(1, total - fixed + 1);
    out += fit_cells(cells[i], w, cols[i].right ? Align::Right : Align::Left);
    if (i + 1 < cols.size()) out += ' ';
  }
  return fit_cells(out, total);
}

// ---- sections ---------------------------------------------------------------------------------

struct Section {
  std::vector<ScreenLine> head; // title and column header
  std::vector<ScreenLine> rows;
  ScreenLine empty; // one line instead of head + rows when there are no rows
};

std::string clock_text(analyze::Clock::time_point t) {
  const std::time_t tt = analyze::Clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string header_text(const TopModel& m, const TopViewState& v) {
  std::string h = fmt::format("sockdoctor top  {}  every {:g}s  {} sockets", clock_text(m.time),
                              v.interval_seconds, m.total);
  if (m.owners_age_s)
    h += fmt::format("  owners {} ago", core::compact_duration(*m.owners_age_s));
  else
    h += "  owners not scanned";
  h += fmt::format("  sort:{}", analyze::sort_name(m.query.sort));
  if (!m.query.filter.empty()) h += "  filter:" + escape_for_terminal(m.query.filter.describe());
  if (v.paused) h += "  [PAUSED]";
  return h;
}

std::vector<ScreenLine> state_lines(const TopModel& m, int cols) {
  const bool wide = cols >= 100;
  std::vector<Col> c = {{10, false}, {9, true}, {8, true}};
  std::vector<std::string> head = {"STATE", "COUNT", "CHG/s"};
  if (wide) {
    c.insert(c.end(), {{7, true}, {7, true}});
    head.insert(head.end(), {"NEW", "GONE"});
  }
  c.push_back({0, false});
  head.push_back("HISTORY");
  int spark = cols;
  for (std::size_t i = 0; i + 1 < c.size(); ++i)
    spark -= c[i].width + 1;
  std::vector<ScreenLine> out;
  out.push_back({row(c, head, cols), LineStyle::Title});
  for (const auto& r : m.states) {
    std::vector<std::string> cells = {std::string(core::ss_name(r.state)),
                                      (r.listed ? "" : "~") + std::to_string(r.count),
                                      signed_number(r.rate_per_s, 1)};
    if (wide) {
      cells.push_back(r.listed && r.appeared ? fmt::format("+{}", r.appeared) : "");
      cells.push_back(r.listed && r.departed ? fmt::format("-{}", r.departed) : "");
    }
    cells.push_back(sparkline(r.history, std::max(spark, 1)));
    out.push_back({row(c, cells, cols)});
  }
  return out;
}

Section holders_section(const TopModel& m, int cols) {
  Section s;
  const std::vector<Col> c = {{7, true}, {0, false}, {10, true}, {10, true},
                              {8, true}, {10, true}, {8, false}};
  std::string title = "CLOSE_WAIT / FIN_WAIT2 holders";
  if (m.close_wait.count > 0 && m.close_wait.kind != analyze::TrendKind::WarmingUp)
    title += fmt::format("  (all CLOSE_WAIT: {}, {}/min, {})", m.close_wait.count,
                         signed_number(m.close_wait.growth_per_min, 1),
                         analyze::trend_name(m.close_wait.kind));
  s.head.push_back({fit_cells(title, cols), LineStyle::Title});
  s.head.push_back(
      {row(c, {"PID", "PROCESS", "CLOSE-WAIT", "FIN-WAIT-2", "OLDEST", "GROWTH/min", "TREND"},
           cols),
       LineStyle::Dim});
  for (const auto& h : m.holders) {
    const bool leak = h.trend && h.trend->kind == analyze::TrendKind::Leak;
    s.rows.push_back({row(c,
                          {pid_label(h.pid), holder_label(h), std::to_string(h.close_wait),
                           std::to_string(h.fin_wait2), age_text(h.oldest), growth_text(h.trend),
                           trend_text(h.trend)},
                          cols),
                      leak ? LineStyle::Warning : LineStyle::Normal});
  }
  s.empty = {fit_cells("CLOSE_WAIT / FIN_WAIT2 holders: none", cols), LineStyle::Title};
  return s;
}

std::string as_of(const TopModel& m, const TopViewState& v) {
  if (!m.detail_age_s || *m.detail_age_s < v.interval_seconds * 1.5) return "";
  return fmt::format("  (as of {} ago)", core::compact_duration(*m.detail_age_s));
}

Section time_wait_section(const TopModel& m, const TopViewState& v, int cols) {
  Section s;
  const std::vector<Col> c = {{7, true}, {16, false}, {9, true},
                              {8, true}, {11, false}, {0, false}};
  s.head.push_back({fit_cells("TIME_WAIT causes" + as_of(m, v), cols), LineStyle::Title});
  s.head.push_back(
      {row(c, {"PID", "PROCESS", "TIME-WAIT", "OLDEST", "HOW", "WHERE"}, cols), LineStyle::Dim});
  for (const auto& r : m.time_wait) {
    const std::string who = r.pid > 0 ? process_label(r.pid, r.comm) : "(unknown client)";
    s.rows.push_back(
        {row(c,
             {r.pid > 0 ? std::to_string(r.pid) : "-", who, std::to_string(r.time_wait),
              age_text(r.oldest), std::string(analyze::attribution_name(r.how)), r.where},
             cols)});
  }
  s.empty = {fit_cells("TIME_WAIT causes: none" + as_of(m, v), cols), LineStyle::Title};
  return s;
}

Section destination_section(const TopModel& m, const TopViewState& v, int cols) {
  Section s;
  const std::vector<Col> c = {{0, false}, {16, false}, {7, true}, {9, true}, {7, true}, {6, true}};
  s.head.push_back(
      {fit_cells("Ephemeral port budget by destination" + as_of(m, v), cols), LineStyle::Title});
  s.head.push_back({row(c, {"DESTINATION", "FROM", "IN USE", "TIME-WAIT", "USABLE", "USED"}, cols),
                    LineStyle::Dim});
  for (const auto& d : m.destinations) {
    const auto style = d.fraction >= 0.9   ? LineStyle::Critical
                       : d.fraction >= 0.5 ? LineStyle::Warning
                                           : LineStyle::Normal;
    s.rows.push_back(
        {row(c,
             {d.destination, d.source, std::to_string(d.in_use), std::to_string(d.time_wait),
              std::to_string(d.usable), fmt::format("{:.1f}%", d.fraction * 100)},
             cols),
         style});
  }
  s.empty = {fit_cells("Ephemeral port budget: no outgoing connections" + as_of(m, v), cols),
             LineStyle::Title};
  return s;
}

Section peer_section(const TopModel& m, int cols) {
  Section s;
  const std::vector<Col> c = {{0, false}, {10, true}, {8, true}, {10, true}, {8, false}};
  s.head.push_back({fit_cells("CLOSE_WAIT by peer", cols), LineStyle::Title});
  s.head.push_back(
      {row(c, {"PEER", "CLOSE-WAIT", "OLDEST", "GROWTH/min", "TREND"}, cols), LineStyle::Dim});
  for (const auto& p : m.peers)
    s.rows.push_back({row(c,
                          {p.peer, std::to_string(p.close_wait), age_text(p.oldest),
                           growth_text(p.trend), trend_text(p.trend)},
                          cols)});
  s.empty = {fit_cells("CLOSE_WAIT by peer: none", cols), LineStyle::Title};
  return s;
}

ScreenLine findings_line(const TopModel& m, const TopViewState& v, int cols) {
  if (!m.findings_enabled) return {fit_cells("findings: off", cols), LineStyle::Dim};
  if (m.findings.empty()) return {fit_cells("findings: none" + as_of(m, v), cols), LineStyle::Dim};
  const auto& f = m.findings.front();
  static constexpr const char* kLabel[] = {"INFO", "WARNING", "CRITICAL"};
  std::string text = fmt::format("{} {}: {}", kLabel[static_cast<int>(f.severity)], f.id,
                                 escape_for_terminal(f.title));
  if (m.findings.size() > 1) text += fmt::format("  (+{} more)", m.findings.size() - 1);
  const auto style = f.severity == analyze::Severity::Critical  ? LineStyle::Critical
                     : f.severity == analyze::Severity::Warning ? LineStyle::Warning
                                                                : LineStyle::Normal;
  return {fit_cells(text, cols), style};
}

ScreenLine footer_line(const TopViewState& v, int cols) {
  if (v.prompting)
    return {fit_cells("filter (port:N pid:N state:S proc:NAME; empty clears)> " +
                          escape_for_terminal(v.prompt) + "_",
                      cols),
            LineStyle::Header};
  if (!v.message.empty())
    return {fit_cells(escape_for_terminal(v.message), cols), LineStyle::Header};
  return {fit_cells("q quit  p pause  s sort  / filter  h help", cols), LineStyle::Header};
}

const char* const kHelp[] = {
    "sockdoctor top: live TCP states, who holds CLOSE_WAIT, who causes TIME_WAIT",
    "",
    "  q          quit (also Ctrl-C)",
    "  p, space   pause / resume sampling",
    "  s          sort holders by count, age, growth, pid",
    "  / or f     filter: port:443  pid:1234  state:close-wait  proc:nginx",
    "             (terms combine; an empty filter clears it; Esc cancels)",
    "  h or ?     this help; any key returns",
    "",
    "CHG/s       change per second over the last 10 s",
    "NEW / GONE  sockets that entered / left the state since they were last listed",
    "~COUNT      from kernel counters (/proc/net/snmp CurrEstab, sockstat tw): on",
    "            big hosts these states are listed socket by socket less often",
    "OLDEST      time in state; '>' marks a lower bound (kernel timer, last ACK",
    "            received, or first seen by this view)",
    "GROWTH/min  slope of the CLOSE_WAIT count over the last 60 s",
    "TREND       leak: the set grows and its old sockets stay; churn: sockets come",
    "            and go; stable; draining; warming: not enough history yet",
    "HOW         TIME_WAIT cause: traced (cookie seen alive with its process),",
    "            listener (our server closed first), sole_client, unknown",
};

// Gives each section its head and rows as space allows, most important first.
void place_sections(std::vector<ScreenLine>& out, const std::vector<Section>& sections, int avail) {
  const std::size_t n = sections.size();
  std::vector<int> shown(n, 0); // rows shown; -1: only the one-line empty form
  std::vector<bool> on(n, false);
  int used = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& s = sections[i];
    const int need = (s.rows.empty() ? 1 : static_cast<int>(s.head.size()) + 1) + (used ? 1 : 0);
    if (used + need > avail) continue;
    on[i] = true;
    used += need;
    shown[i] = s.rows.empty() ? 0 : 1;
  }
  for (bool grew = true; grew && used < avail;) {
    grew = false;
    for (std::size_t i = 0; i < n && used < avail; ++i) {
      if (!on[i] || shown[i] >= static_cast<int>(sections[i].rows.size()) || shown[i] == 0)
        continue;
      ++shown[i];
      ++used;
      grew = true;
    }
  }
  bool first = true;
  for (std::size_t i = 0; i < n; ++i) {
    if (!on[i]) continue;
    if (!first) out.push_back({});
    first = false;
    const auto& s = sections[i];
    if (s.rows.empty()) {
      out.push_back(s.empty);
      continue;
    }
    out.insert(out.end(), s.head.begin(), s.head.end());
    out.insert(out.end(), s.rows.begin(), s.rows.begin() + shown[i]);
  }
}

} // namespace

std::string sparkline(std::span<const std::uint64_t> values, int width) {
  static constexpr const char* kBlocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                            "\u2585", "\u2586", "\u2587", "\u2588"};
  if (width <= 0) return "";
  const auto n = std::min(values.size(), static_cast<std::size_t>(width));
  const auto tail = values.subspan(values.size() - n);
  const std::uint64_t max = tail.empty() ? 0 : *std::max_element(tail.begin(), tail.end());
  std::string out(static_cast<std::size_t>(width) - n, ' ');
  for (std::uint64_t v : tail) {
    if (v == 0 || max == 0) {
      out += ' ';
      continue;
    }
    const auto level = static_cast<int>(std::ceil(static_cast<double>(v) * 8.0 / max));
    out += kBlocks[std::clamp(level, 1, 8) - 1];
  }
  return out;
}

std::vector<ScreenLine> layout_top_screen(const TopModel& m, const TopViewState& v, TermSize size) {
  const int cols = size.cols, rows = size.rows;
  std::vector<ScreenLine> out;
  if (cols < kMinTermSize.cols || rows < kMinTermSize.rows) {
    out.push_back({fit_cells(
        fmt::format("terminal too small: need {}x{}", kMinTermSize.cols, kMinTermSize.rows),
        std::max(cols, 1))});
    out.resize(static_cast<std::size_t>(std::max(rows, 1)));
    return out;
  }
  out.push_back({fit_cells(header_text(m, v), cols), LineStyle::Header});
  if (v.help) {
    for (const char* line : kHelp)
      if (static_cast<int>(out.size()) < rows - 1) out.push_back({fit_cells(line, cols)});
  } else if (m.sample == 0) {
    out.push_back({fit_cells("taking the first sample...", cols)});
  } else {
    auto states = state_lines(m, cols);
    const int max_states = std::max(2, rows / 2 - 1);
    if (static_cast<int>(states.size()) > max_states) states.resize(max_states);
    out.insert(out.end(), states.begin(), states.end());
    std::vector<Section> sections = {holders_section(m, cols), time_wait_section(m, v, cols),
                                     destination_section(m, v, cols)};
    if (rows >= 36) sections.push_back(peer_section(m, cols));
    const int avail = rows - static_cast<int>(out.size()) - 3; // blank, findings, footer
    out.push_back({});
    place_sections(out, sections, avail);
  }
  while (static_cast<int>(out.size()) < rows - 2)
    out.push_back({});
  out.resize(static_cast<std::size_t>(rows - 2));
  out.push_back(findings_line(m, v, cols));
  out.push_back(footer_line(v, cols));
  return out;
}

std::string compose_frame(const std::vector<ScreenLine>& lines, TermSize size, bool color) {
  std::string out = "\x1b[?2026h";
  out.reserve(static_cast<std::size_t>(size.rows) * (static_cast<std::size_t>(size.cols) + 24));
  for (std::size_t i = 0; i < lines.size() && static_cast<int>(i) < size.rows; ++i) {
    const auto& l = lines[i];
    out += fmt::format("\x1b[{};1H", i + 1);
    const char* on = "";
    switch (l.style) {
    case LineStyle::Normal:
      break;
    case LineStyle::Header:
      on = "\x1b[7m";
      break;
    case LineStyle::Title:
      on = "\x1b[1m";
      break;
    case LineStyle::Critical:
      on = color ? "\x1b[1;31m" : "\x1b[1m";
      break;
    case LineStyle::Warning:
      on = color ? "\x1b[33m" : "";
      break;
    case LineStyle::Dim:
      on = color ? "\x1b[2m" : "";
      break;
    }
    const int w = static_cast<int>(display_width(l.text));
    out += on;
    out += l.text;
    // A reverse-video bar spans the row; elsewhere erase what the last frame left. Never erase
    // from the last column: the cursor sits there after a full-width row.
    if (l.style == LineStyle::Header && w < size.cols)
      out.append(static_cast<std::size_t>(size.cols - w), ' ');
    if (*on != '\0') out += "\x1b[0m";
    if (w < size.cols && l.style != LineStyle::Header) out += "\x1b[K";
  }
  out += "\x1b[?2026l";
  return out;
}

std::string render_top_frame(const TopModel& m, const TopViewState& v, TermSize size, bool color) {
  return compose_frame(layout_top_screen(m, v, size), size, color);
}

} // namespace sockdoctor::render
