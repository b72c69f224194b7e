// The text toolkit: cell widths (wide glyphs count two), cuts that never split an escape,
// padding, and the word wrap every renderer shares.
#include "render/text.hpp"

#include <gtest/gtest.h>

#include "render/escape.hpp"

namespace sockdoctor::render {
namespace {

TEST(Cells, FitCutsAndPadsByCell) {
  EXPECT_EQ(fit("abc", 5), "abc  ");
  EXPECT_EQ(fit("abc", 5, Align::Right), "  abc");
  EXPECT_EQ(fit("abcdef", 4), "abc…");
  EXPECT_EQ(display_width("日本"), 4u);
  EXPECT_EQ(fit("日本語", 4), "日… ");
  EXPECT_EQ(display_width(fit("日本語", 4)), 4u);
  EXPECT_EQ(fit("x", 0), "");
}

TEST(Cells, WideGlyphsCountTwoEverywhere) {
  EXPECT_EQ(display_width("nginx"), 5u);
  EXPECT_EQ(display_width("caf\xc3\xa9"), 4u);
  EXPECT_EQ(display_width("\xf0\x9f\x90\xb3"), 2u); // emoji
  EXPECT_EQ(display_width("\xef\xbc\xa1"), 2u);     // fullwidth A
  EXPECT_EQ(display_width("\\x1b"), 4u);            // an escape shows as its four characters
}

TEST(Cells, TruncateNeverSplitsAnEscape) {
  const std::string esc = escape_for_terminal("evil\x1b[2Jname");
  ASSERT_EQ(esc, "evil\\x1b[2Jname");
  EXPECT_EQ(truncate(esc, 6), "evil…");
  EXPECT_EQ(truncate(esc, 8), "evil…"); // \x1b needs 4 cells and the marker 1: not enough
  EXPECT_EQ(truncate(esc, 9), "evil\\x1b…");
  EXPECT_EQ(truncate("back\\\\slash", 6), "back…");
  EXPECT_EQ(truncate("back\\\\slash", 7), "back\\\\…");
  EXPECT_EQ(truncate(escape_for_terminal("ab\u202etxt"), 10), "ab…");
  EXPECT_EQ(truncate(escape_for_terminal("ab\u202etxt"), 11), "ab\\u{202e}…");
  EXPECT_EQ(truncate("short", 5), "short");
  EXPECT_EQ(truncate("abcdef", 5, "..."), "ab...");
  EXPECT_EQ(truncate("abcdef", 2, "..."), "");
}

TEST(Cells, PadNeverCuts) {
  std::string out;
  append_padded(out, "abc", 2);
  EXPECT_EQ(out, "abc");
  out.clear();
  append_padded(out, "日本", 6, Align::Right);
  EXPECT_EQ(out, "  日本");
}

TEST(Wrap, BreaksBeforeTheWordThatWouldPass) {
  std::string out;
  append_wrapped(out, "aaa bbb ccc", {.width = 7, .indent = 2});
  EXPECT_EQ(out, "aaa bbb\n  ccc");
  out.clear();
  append_wrapped(out, "aaa bbb", {.width = 10, .first_column = 5, .indent = 1});
  EXPECT_EQ(out, "aaa\n bbb") << "the first column counts";
}

TEST(Wrap, WideGlyphsWrapByCells) {
  std::string out;
  append_wrapped(out, "日本語 日本語", {.width = 12});
  EXPECT_EQ(out, "日本語\n日本語") << "6 + 1 + 6 cells do not fit in 12";
}

TEST(Wrap, SpacesCollapseOrStay) {
  std::string out;
  append_wrapped(out, "a  b ", {.width = 80});
  EXPECT_EQ(out, "a b");
  out.clear();
  append_wrapped(out, "a  b", {.width = 80, .collapse_spaces = false});
  EXPECT_EQ(out, "a  b") << "a process name keeps its spaces";
}

TEST(Wrap, LongWordsOverflowOrSplit) {
  std::string out;
  append_wrapped(out, "xxxxxxxxxx", {.width = 4});
  EXPECT_EQ(out, "xxxxxxxxxx");
  out.clear();
  append_wrapped(out, "xxxxxxxxxx", {.width = 4, .indent = 1, .split_long_words = true});
  EXPECT_EQ(out, "xxxx\n xxx\n xxx");
  out.clear();
  append_wrapped(out, "日本語日本語", {.width = 5, .split_long_words = true});
  EXPECT_EQ(out, "日本\n語日\n本語") << "split between code points, by cells";
}

} // namespace
} // namespace sockdoctor::render
