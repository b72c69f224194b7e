// Terminal and JSON escaping with UTF-8 validation.
#include "render/escape.hpp"

#include <cstdint>

namespace sockdoctor::render {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_escape(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid (overlong, surrogate, truncated).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i, std::uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len;
  std::uint32_t v;
  if (b0 < 0x80) {
    *cp = b0;
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
  *cp = v;
  return len;
}

} // namespace

void append_escaped_for_terminal(std::string& out, std::string_view raw) {
  for (std::size_t i = 0; i < raw.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = utf8_sequence_length(raw, i, &cp);
    if (len == 0) {
      append_hex_escape(out, static_cast<unsigned char>(raw[i]));
      ++i;
      continue;
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
      for (std::size_t k = 0; k < len; ++k)
        append_hex_escape(out, static_cast<unsigned char>(raw[i + k]));
    } else if (cp == '\\') {
      out += "\\\\";
    } else {
      out.append(raw.substr(i, len));
    }
    i += len;
  }
}

std::string escape_for_terminal(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  append_escaped_for_terminal(out, raw);
  return out;
}

void append_json_string_body(std::string& out, std::string_view raw) {
  for (std::size_t i = 0; i < raw.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = utf8_sequence_length(raw, i, &cp);
    if (len == 0) {
      out += "\\\\x"; // the text \xNN, with the backslash JSON-escaped
      const auto c = static_cast<unsigned char>(raw[i]);
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
      continue;
    }
    if (cp == '"') {
      out += "\\\"";
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
      out += "\\u00";
      out += kHex[(cp >> 4) & 15];
      out += kHex[cp & 15];
    } else {
      out.append(raw.substr(i, len));
    }
    i += len;
  }
}

std::size_t display_width(std::string_view escaped) {
  std::size_t w = 0;
  for (unsigned char c : escaped)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

} // namespace sockdoctor::render
