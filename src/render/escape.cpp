// Terminal and JSON escaping with UTF-8 validation.
#include "render/escape.hpp"

#include <algorithm>
#include <cstdint>
#include <ostream>

#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_escape(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

// Four lowercase hex digits of a BMP code point.
void append_hex4(std::string& out, std::uint32_t cp) {
  for (int shift = 12; shift >= 0; shift -= 4)
    out += kHex[(cp >> shift) & 15];
}

bool is_control(std::uint32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

// Characters that reorder or hide text (the Unicode bidi controls, zero-width characters,
// separators and the BOM): shown as \u{XXXX} on terminals, \uXXXX in JSON.
bool is_bidi_or_invisible(std::uint32_t cp) {
  return cp == 0x061C || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

// Bytes that pass unchanged: printable ASCII except '\\' (1), and except '"' as well (2).
struct PlainTable {
  std::uint8_t bits[256] = {};
  constexpr PlainTable() {
    for (int c = 0x20; c < 0x7F; ++c)
      bits[c] = c == '\\' ? 0 : c == '"' ? 1 : 3;
  }
};
constexpr PlainTable kPlain;
constexpr std::uint8_t kTerminalPlain = 1, kJsonPlain = 2;

// End of the run of bytes that pass unchanged from s[i] on, copied at once: most text is plain
// ASCII, and ls --json writes half a gigabyte of it at a million sockets.
std::size_t plain_run(std::string_view s, std::size_t i, std::uint8_t kind) {
  while (i < s.size() && (kPlain.bits[static_cast<unsigned char>(s[i])] & kind) != 0)
    ++i;
  return i;
}

constexpr std::uint32_t kInvalid = 0xFFFFFFFF; // not a code point: a byte of invalid UTF-8

// The scan both escapers share: runs of plain ASCII are copied, every other unit (a code point,
// or one invalid byte with cp == kInvalid) goes to write(out, bytes, cp).
template <typename Write>
void escape_with(std::string& out, std::string_view raw, std::uint8_t plain, Write&& write) {
  for (std::size_t i = 0; i < raw.size();) {
    const std::size_t run = plain_run(raw, i, plain);
    out.append(raw.data() + i, run - i);
    if ((i = run) >= raw.size()) break;
    std::uint32_t cp = 0;
    std::size_t len = utf8_sequence(raw, i, cp);
    if (len == 0) {
      len = 1;
      cp = kInvalid;
    }
    write(out, raw.substr(i, len), cp);
    i += len;
  }
}

} // namespace

void append_escaped_for_terminal(std::string& out, std::string_view raw) {
  escape_with(out, raw, kTerminalPlain,
              [](std::string& o, std::string_view bytes, std::uint32_t cp) {
                if (cp == kInvalid || is_control(cp)) {
                  for (unsigned char c : bytes)
                    append_hex_escape(o, c);
                } else if (is_bidi_or_invisible(cp)) {
                  o += "\\u{";
                  append_hex4(o, cp);
                  o += '}';
                } else if (cp == '\\') {
                  o += "\\\\";
                } else {
                  o += bytes;
                }
              });
}

std::string escape_for_terminal(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  append_escaped_for_terminal(out, raw);
  return out;
}

void write_notice(std::ostream& out, std::string_view prefix, std::string_view text) {
  std::string line;
  line.reserve(prefix.size() + text.size() + 1);
  append_escaped_for_terminal(line, prefix);
  append_escaped_for_terminal(line, text);
  line += '\n';
  out.write(line.data(), static_cast<std::streamsize>(line.size()));
}

void append_json_string_body(std::string& out, std::string_view raw) {
  escape_with(out, raw, kJsonPlain, [](std::string& o, std::string_view bytes, std::uint32_t cp) {
    if (cp == kInvalid) {
      o += '\\'; // the text \xNN, with its backslash JSON-escaped
      append_hex_escape(o, static_cast<unsigned char>(bytes[0]));
    } else if (cp == '"' || cp == '\\') {
      o += '\\';
      o += static_cast<char>(cp);
    } else if (is_control(cp) || is_bidi_or_invisible(cp)) {
      o += "\\u";
      append_hex4(o, cp);
    } else {
      o += bytes;
    }
  });
}

std::size_t escape_length(std::string_view escaped, std::size_t i) {
  if (escaped[i] != '\\' || i + 1 >= escaped.size()) return 0;
  if (escaped[i + 1] == 'x') return std::min<std::size_t>(4, escaped.size() - i);
  if (escaped.substr(i + 1, 2) == "u{") {
    const auto close = escaped.find('}', i);
    if (close != std::string_view::npos && close - i <= 9) return close - i + 1;
  }
  return 2;
}

std::string escape_for_markup(std::string_view raw) {
  std::string out;
  for (char c : escape_for_terminal(raw)) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

} // namespace sockdoctor::render
