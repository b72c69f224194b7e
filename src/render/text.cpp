// Cell widths, cuts, padding and wrapping over escaped UTF-8, shared by every text renderer.
#include "render/text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "render/escape.hpp"

namespace sockdoctor::render {
namespace {

// Bytes and cells of the unit at s[i]: an escape, a code point, or one stray byte.
struct Unit {
  std::size_t bytes;
  std::size_t cells;
};

Unit unit_at(std::string_view s, std::size_t i) {
  if (const std::size_t n = escape_length(s, i); n > 0) return {n, n};
  std::uint32_t cp = 0;
  const std::size_t len = utf8_sequence(s, i, cp);
  if (len == 0) return {1, 1};
  return {len, static_cast<std::size_t>(code_point_cells(cp))};
}

void new_line(std::string& out, std::size_t indent, std::size_t& col) {
  out += '\n';
  out.append(indent, ' ');
  col = indent;
}

// Places the head of an over-long word that fits in the rest of the line (at least one unit),
// then starts a new line; returns what is left of the word.
std::string_view
split_word(std::string& out, std::string_view word, const WrapOptions& o, std::size_t& col) {
  const std::size_t room = o.width > col ? o.width - col : 0;
  std::size_t bytes = 0, cells = 0;
  while (bytes < word.size()) {
    const Unit u = unit_at(word, bytes);
    if (bytes > 0 && cells + u.cells > room) break;
    bytes += u.bytes;
    cells += u.cells;
  }
  out.append(word.substr(0, bytes));
  new_line(out, o.indent, col);
  return word.substr(bytes);
}

} // namespace

std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len;
  std::uint32_t v;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    v = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    v = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    v = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  cp = v;
  return len;
}

int code_point_cells(std::uint32_t cp) {
  if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) ||
      (cp >= 0x20000 && cp <= 0x3FFFD))
    return 2;
  return 1;
}

std::size_t display_width(std::string_view escaped) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < escaped.size();) {
    // ASCII, eight bytes at a time: addresses, numbers and states are most of what is measured.
    std::uint64_t word;
    if (i + 8 <= escaped.size() &&
        (std::memcpy(&word, escaped.data() + i, 8), (word & 0x8080808080808080u) == 0)) {
      w += 8;
      i += 8;
    } else if (static_cast<unsigned char>(escaped[i]) < 0x80) {
      ++w;
      ++i;
    } else {
      const Unit u = unit_at(escaped, i);
      w += u.cells;
      i += u.bytes;
    }
  }
  return w;
}

std::string truncate(std::string_view escaped, std::size_t width, std::string_view marker) {
  if (escaped.size() <= width || display_width(escaped) <= width) return std::string(escaped);
  const std::size_t marker_cells = display_width(marker);
  if (width < marker_cells) return {};
  std::size_t bytes = 0, cells = 0;
  while (bytes < escaped.size()) {
    const Unit u = unit_at(escaped, bytes);
    if (cells + u.cells > width - marker_cells) break;
    bytes += u.bytes;
    cells += u.cells;
  }
  std::string out(escaped.substr(0, bytes));
  out += marker;
  return out;
}

void append_padded(std::string& out, std::string_view text, std::size_t width, Align align) {
  const std::size_t w = display_width(text);
  const std::size_t pad = w < width ? width - w : 0;
  if (align == Align::Right) out.append(pad, ' ');
  out += text;
  if (align == Align::Left) out.append(pad, ' ');
}

std::string fit(std::string_view escaped, std::size_t width, Align align) {
  std::string out;
  append_padded(out, truncate(escaped, width), width, align);
  return out;
}

void append_wrapped(std::string& out, std::string_view text, const WrapOptions& o) {
  std::size_t col = o.first_column;
  bool line_empty = true;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t end = std::min(text.find(' ', pos), text.size());
    std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty() && o.collapse_spaces) continue;
    std::size_t w = display_width(word);
    if (!line_empty && col + 1 + w > o.width) {
      new_line(out, o.indent, col);
      line_empty = true;
    } else if (!line_empty) {
      out += ' ';
      ++col;
    }
    while (o.split_long_words && col + w > o.width) {
      word = split_word(out, word, o, col);
      w = display_width(word);
    }
    out += word;
    col += w;
    line_empty = false;
  }
}

bool append_trimmed_decimal(std::string& out, double v, int decimals) {
  char buf[400];
  if (!std::isfinite(v)) return false;
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed,
                               std::clamp(decimals, 0, 20));
  if (r.ec != std::errc{}) return false;
  std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf));
  if (s.find('.') != std::string_view::npos) {
    while (s.back() == '0')
      s.remove_suffix(1);
    if (s.back() == '.') s.remove_suffix(1);
  }
  out += s == "-0" ? "0" : s;
  return true;
}

std::string wrap_text(std::string_view text, int width, int first_indent, int indent) {
  const auto first = static_cast<std::size_t>(std::max(first_indent, 0));
  std::string out(first, ' ');
  append_wrapped(out, text,
                 {.width = static_cast<std::size_t>(std::max(width, indent + 10)),
                  .first_column = first,
                  .indent = static_cast<std::size_t>(std::max(indent, 0)),
                  .collapse_spaces = true,
                  .split_long_words = true});
  return out;
}

} // namespace sockdoctor::render
