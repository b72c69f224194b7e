// `sockdoctor top` screen: model + view state + terminal size -> one frame string. Pure: no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "analyze/top_model.hpp"

namespace sockdoctor::render {

struct TermSize {
  int cols = 80;
  int rows = 24;
};

// Smallest screen the layout supports; smaller ones get a one-line notice.
inline constexpr TermSize kMinTermSize{40, 10};

// What the keys change. cmd_top owns one; cli::apply_key() is the only writer besides the loop.
struct TopViewState {
  bool paused = false;
  bool help = false;
  bool prompting = false;  // the filter prompt is open
  std::string prompt;      // text typed at the prompt so far
  std::string filter_text; // the text of the filter in force
  std::string message;     // one status line (bad filter, sampling error); cleared by the next key
  analyze::TopQuery query;
  double interval_seconds = 1;
};

enum class LineStyle : std::uint8_t { Normal, Header, Title, Critical, Warning, Dim };

struct ScreenLine {
  std::string text; // at most the screen width in cells; already escaped
  LineStyle style = LineStyle::Normal;
};

// Exactly size.rows lines, each at most size.cols cells wide.
std::vector<ScreenLine>
layout_top_screen(const analyze::TopModel& m, const TopViewState& v, TermSize size);

// One write's worth: begin synchronized update (ESC [?2026h), each row positioned absolutely and
// cleared to its end, end synchronized update. `color` adds red/yellow for severities; reverse
// video and bold are used either way.
std::string compose_frame(const std::vector<ScreenLine>& lines, TermSize size, bool color);

// layout_top_screen + compose_frame.
std::string
render_top_frame(const analyze::TopModel& m, const TopViewState& v, TermSize size, bool color);

// The last `width` values as block characters scaled to their maximum, newest on the right,
// padded with spaces on the left; zero is a space.
std::string sparkline(std::span<const std::uint64_t> values, int width);

} // namespace sockdoctor::render
