// The text toolkit of every renderer: terminal cell widths, cutting, padding and word wrapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "analyze/age.hpp"

namespace sockdoctor::render {

// The mark before an age in a table: ">" a lower bound, "~" an estimate, "" exact.
inline std::string_view age_mark(const analyze::Age& a) {
  return a.lower_bound ? ">" : a.estimate ? "~" : "";
}

// One cell: marks where text was cut.
inline constexpr std::string_view kEllipsis = "\u2026";

enum class Align : std::uint8_t { Left, Right };

// Length of the valid UTF-8 sequence at s[i], with its code point in cp; 0 if the bytes there are
// not valid UTF-8 (overlong, surrogate, beyond U+10FFFF, truncated).
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp);

// Cells a code point takes: 2 for East Asian wide and fullwidth blocks and emoji, else 1.
// Over-counting is harmless: layouts err on the short side.
int code_point_cells(std::uint32_t cp);

// Cells escaped text (valid UTF-8, see escape.hpp) takes on a terminal; never more than its bytes.
std::size_t display_width(std::string_view escaped);

// Escaped text cut to at most `width` cells, `marker` ending a cut. An escape (\x1b, \\) is one
// unit and never split, so what is shown stays unambiguous.
std::string
truncate(std::string_view escaped, std::size_t width, std::string_view marker = kEllipsis);

// Appends text, padded with spaces to `width` cells on the right (Left) or left (Right). Never
// cuts: text wider than `width` is appended whole.
void append_padded(std::string& out,
                   std::string_view text,
                   std::size_t width,
                   Align align = Align::Left);

// Exactly `width` cells: truncate, then pad.
std::string fit(std::string_view escaped, std::size_t width, Align align = Align::Left);

struct WrapOptions {
  std::size_t width = 80;        // cells per line
  std::size_t first_column = 0;  // cells already on the first line when the text starts
  std::size_t indent = 0;        // continuation lines start with this many spaces
  bool collapse_spaces = true;   // false: spaces between words are kept as given
  bool split_long_words = false; // true: a word wider than a line is cut across lines
};

// Appends text word by word (words are separated by ' '), breaking lines before a word that
// would pass `width`. The first word of a line is placed even when it does not fit, unless
// split_long_words. No newline is added after the last line.
void append_wrapped(std::string& out, std::string_view text, const WrapOptions& opt);

// v with at most `decimals` decimals, trailing zeros and a bare point dropped, never "-0"
// ("0.25", "120"): top's rates in text and JSON. Appends nothing for NaN and infinities and
// returns false.
bool append_trimmed_decimal(std::string& out, double v, int decimals);

// A paragraph: first_indent spaces, then text wrapped to max(width, indent + 10) columns with
// continuation lines indented by `indent`; spaces collapse and over-long words are split.
std::string wrap_text(std::string_view text, int width, int first_indent, int indent);

} // namespace sockdoctor::render
