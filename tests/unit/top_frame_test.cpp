// The top screen from a model: golden frames at 80x24 and 120x40 (UPDATE_GOLDEN=1 rewrites them),
// the frame's escape sequences, keys, and hostile process names.
#include "render/top_frame.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>

#include "render/text.hpp"
#include "top/keys.hpp"
#include "top_scene.hpp"

namespace sockdoctor::render {
namespace {

using top::apply_key;
using top::KeyAction;

class TopFrameTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ::setenv("TZ", "UTC", 1); // the header shows local time
    ::tzset();
  }
  static std::string screen_text(const std::vector<ScreenLine>& lines) {
    std::string out;
    for (const auto& l : lines)
      out += l.text + "\n";
    return out;
  }
  static TopViewState view() {
    TopViewState v;
    v.interval_seconds = 1;
    return v;
  }
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void check_golden(const std::string& name, const std::string& got) {
  const std::string path = std::string(SOCKDOCTOR_FIXTURES) + "/golden/" + name;
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << got;
    GTEST_SKIP() << "rewrote " << path;
  }
  const std::string want = read_file(path);
  ASSERT_FALSE(want.empty()) << path << " is missing: run with UPDATE_GOLDEN=1 and review it";
  EXPECT_EQ(got, want) << "frame differs from " << path
                       << " (if intended: UPDATE_GOLDEN=1, then review the diff)";
}

void check_fits(const std::vector<ScreenLine>& lines, TermSize size) {
  ASSERT_EQ(static_cast<int>(lines.size()), size.rows);
  for (const auto& l : lines) {
    EXPECT_LE(display_width(l.text), static_cast<std::size_t>(size.cols)) << l.text;
    EXPECT_EQ(l.text.find('\x1b'), std::string::npos) << "raw escape reached the screen";
  }
}

TEST_F(TopFrameTest, Golden80x24) {
  const auto m = testing::scene_view(6).model();
  const auto lines = layout_top_screen(m, view(), {80, 24});
  check_fits(lines, {80, 24});
  check_golden("top_80x24.txt", screen_text(lines));
}

TEST_F(TopFrameTest, Golden120x40) {
  const auto m = testing::scene_view(6).model();
  const auto lines = layout_top_screen(m, view(), {120, 40});
  check_fits(lines, {120, 40});
  check_golden("top_120x40.txt", screen_text(lines));
}

TEST_F(TopFrameTest, EveryUsefulSizeFits) {
  const auto m = testing::scene_view(6).model();
  for (int cols : {40, 57, 80, 99, 100, 133, 200})
    for (int rows : {10, 13, 24, 35, 36, 60}) {
      SCOPED_TRACE(::testing::Message() << cols << "x" << rows);
      check_fits(layout_top_screen(m, view(), {cols, rows}), {cols, rows});
    }
}

TEST_F(TopFrameTest, HostileProcessNameIsEscaped) {
  const auto m = testing::scene_view(3).model();
  const auto text = screen_text(layout_top_screen(m, view(), {120, 40}));
  EXPECT_NE(text.find("evil\\x1b]0;pwned\\x07"), std::string::npos) << text;
}

TEST_F(TopFrameTest, CutsNeverSplitAnEscape) {
  const auto m = testing::scene_view(3).model();
  for (int cols = 40; cols <= 140; ++cols) { // every width: some cut inside the hostile name
    const auto text = screen_text(layout_top_screen(m, view(), {cols, 40}));
    // "\x…", "\x1…" or "\…": half an escape, then the cut mark (the name has no backslash).
    EXPECT_FALSE(std::regex_search(text, std::regex("\\\\(x[0-9a-f]?)?\u2026")))
        << cols << " columns\n"
        << text;
  }
}

TEST_F(TopFrameTest, TooSmallSaysSo) {
  const auto lines = layout_top_screen(testing::scene_view(2).model(), view(), {30, 8});
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_NE(lines[0].text.find("terminal too small"), std::string::npos);
}

TEST_F(TopFrameTest, BeforeTheFirstSample) {
  const auto lines = layout_top_screen(analyze::TopModel{}, view(), {80, 24});
  check_fits(lines, {80, 24});
  EXPECT_NE(screen_text(lines).find("taking the first sample"), std::string::npos);
}

TEST_F(TopFrameTest, HelpFitsAndNamesTheKeys) {
  auto v = view();
  v.help = true;
  const auto lines = layout_top_screen(testing::scene_view(2).model(), v, {80, 24});
  check_fits(lines, {80, 24});
  const auto text = screen_text(lines);
  for (const char* key : {"quit", "pause", "sort", "filter", "TREND"})
    EXPECT_NE(text.find(key), std::string::npos) << key;
}

TEST_F(TopFrameTest, FrameIsOneSynchronizedUpdateWithAbsoluteRows) {
  const auto f = render_top_frame(testing::scene_view(3).model(), view(), {80, 24}, true);
  EXPECT_EQ(f.rfind("\x1b[?2026h", 0), 0u);
  EXPECT_EQ(f.find("\x1b[?2026h", 1), std::string::npos);
  EXPECT_EQ(f.size() - f.rfind("\x1b[?2026l"), 8u) << "ends the update last";
  EXPECT_EQ(f.find('\n'), std::string::npos) << "rows are positioned, never scrolled into";
  for (int row = 1; row <= 24; ++row)
    EXPECT_NE(f.find("\x1b[" + std::to_string(row) + ";1H"), std::string::npos) << row;
  EXPECT_EQ(f.find("\x1b[25;1H"), std::string::npos);
}

TEST_F(TopFrameTest, FullWidthRowsAreNotErasedFromTheLastColumn) {
  const std::vector<ScreenLine> lines = {{std::string(10, 'x')}, {"short"}};
  const auto f = compose_frame(lines, {10, 2}, false);
  EXPECT_NE(f.find("\x1b[1;1Hxxxxxxxxxx\x1b[2;1H"), std::string::npos) << f;
  EXPECT_NE(f.find("short\x1b[K"), std::string::npos);
}

TEST(TopKeys, QuitPauseSortHelp) {
  TopViewState v;
  EXPECT_EQ(apply_key(v, 'q'), KeyAction::Quit);
  EXPECT_EQ(apply_key(v, 3), KeyAction::Quit); // Ctrl-C in raw mode
  EXPECT_EQ(apply_key(v, 'p'), KeyAction::PauseChanged);
  EXPECT_TRUE(v.paused);
  EXPECT_EQ(apply_key(v, 'p'), KeyAction::PauseChanged);
  EXPECT_FALSE(v.paused);
  EXPECT_EQ(apply_key(v, 's'), KeyAction::QueryChanged);
  EXPECT_EQ(v.query.sort, analyze::SortKey::Age);
  for (int i = 0; i < 3; ++i)
    apply_key(v, 's');
  EXPECT_EQ(v.query.sort, analyze::SortKey::Count);
  EXPECT_EQ(apply_key(v, 'h'), KeyAction::Redraw);
  EXPECT_TRUE(v.help);
  EXPECT_EQ(apply_key(v, 'x'), KeyAction::Redraw);
  EXPECT_FALSE(v.help);
  EXPECT_EQ(apply_key(v, 'z'), KeyAction::None);
}

TEST(TopKeys, FilterPrompt) {
  TopViewState v;
  EXPECT_EQ(apply_key(v, '/'), KeyAction::Redraw);
  ASSERT_TRUE(v.prompting);
  for (char c : std::string("port:8x"))
    apply_key(v, static_cast<unsigned char>(c));
  apply_key(v, 127); // backspace
  apply_key(v, '0');
  EXPECT_EQ(v.prompt, "port:80");
  EXPECT_EQ(apply_key(v, 'q'), KeyAction::Redraw) << "q is text at the prompt";
  apply_key(v, 127);
  EXPECT_EQ(apply_key(v, '\r'), KeyAction::QueryChanged);
  EXPECT_FALSE(v.prompting);
  EXPECT_EQ(v.query.filter.port, 80);
  EXPECT_EQ(v.filter_text, "port:80");
  // Reopening starts from the filter in force; a bad one leaves it alone and says why.
  apply_key(v, 'f');
  EXPECT_EQ(v.prompt, "port:80");
  apply_key(v, 21); // Ctrl-U
  for (char c : std::string("pid:x"))
    apply_key(v, static_cast<unsigned char>(c));
  EXPECT_EQ(apply_key(v, '\n'), KeyAction::Redraw);
  EXPECT_EQ(v.query.filter.port, 80);
  EXPECT_NE(v.message.find("not a pid"), std::string::npos);
  // Esc cancels; an empty filter clears.
  apply_key(v, '/');
  apply_key(v, 27);
  EXPECT_FALSE(v.prompting);
  apply_key(v, '/');
  apply_key(v, 21);
  EXPECT_EQ(apply_key(v, '\r'), KeyAction::QueryChanged);
  EXPECT_TRUE(v.query.filter.empty());
}

TEST(Sparkline, ScalesToTheMaximumNewestRight) {
  const std::vector<std::uint64_t> v = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(sparkline(v, 9), " ▁▂▃▄▅▆▇█");
  EXPECT_EQ(sparkline(v, 3), "▆▇█");
  EXPECT_EQ(sparkline(std::vector<std::uint64_t>{5, 5}, 4), "  ██");
  EXPECT_EQ(sparkline(std::vector<std::uint64_t>{}, 2), "  ");
  EXPECT_EQ(sparkline(std::vector<std::uint64_t>{100000, 99999}, 2), "██");
}

} // namespace
} // namespace sockdoctor::render
