// Escaping of attacker-controlled strings for terminals and JSON.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>

#include "render/escape.hpp"

using sockdoctor::render::append_json_string_body;
using sockdoctor::render::escape_for_terminal;
using sockdoctor::render::write_notice;

namespace {

std::string utf8(std::uint32_t cp) {
  std::string s;
  if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  }
  s += static_cast<char>(0x80 | (cp & 0x3F));
  return s;
}

std::string shown_as(std::uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u{%04x}", cp);
  return buf;
}

} // namespace

TEST(Escape, TerminalEscapesControlSequences) {
  EXPECT_EQ(escape_for_terminal("nginx"), "nginx");
  EXPECT_EQ(escape_for_terminal("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(escape_for_terminal("a\nb\tc\rd"), "a\\x0ab\\x09c\\x0dd");
  EXPECT_EQ(escape_for_terminal("x\x7fy"), "x\\x7fy");
  // C1 CSI (U+009B) encoded in UTF-8 is as dangerous as ESC [ on many terminals.
  EXPECT_EQ(escape_for_terminal("\xc2\x9b"
                                "31m"),
            "\\xc2\\x9b31m");
  EXPECT_EQ(escape_for_terminal("back\\slash"), "back\\\\slash");
}

TEST(Escape, TerminalKeepsValidUtf8AndEscapesInvalid) {
  EXPECT_EQ(escape_for_terminal("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(escape_for_terminal("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_for_terminal("\xe2\x82"), "\\xe2\\x82");          // truncated sequence
  EXPECT_EQ(escape_for_terminal("\xc0\xaf"), "\\xc0\\xaf");          // overlong '/'
  EXPECT_EQ(escape_for_terminal("\xed\xa0\x80"), "\\xed\\xa0\\x80"); // surrogate
}

TEST(Escape, JsonIsAlwaysValidAndRoundTrips) {
  const std::string nasty =
      std::string("ev\x1b[2Jil\"q\\\n", 13) + std::string(1, '\0') + "\xff" + "\xc2\x9b";
  std::string doc = "\"";
  append_json_string_body(doc, nasty);
  doc += "\"";
  auto parsed = nlohmann::json::parse(doc); // throws on invalid JSON or invalid UTF-8
  const std::string back = parsed.get<std::string>();
  EXPECT_EQ(back.find('\x1b'), 0u + 2); // JSON carries the real bytes of valid characters
  EXPECT_NE(back.find("\\xff"), std::string::npos); // invalid byte becomes visible text
  EXPECT_EQ(doc.find('\x1b'), std::string::npos);   // but the raw JSON text has no ESC byte
}

// Bidi overrides and isolates reorder what follows them; zero-width and other invisible
// characters hide text. None may reach a terminal raw: "ab\u202etxt.exe" displays as
// "abexe.txt" on a terminal that implements bidi.
TEST(Escape, TerminalShowsBidiAndInvisibleCharacters) {
  EXPECT_EQ(escape_for_terminal("ab\u202etxt.exe"), "ab\\u{202e}txt.exe");
  EXPECT_EQ(escape_for_terminal("a\u2066b\u2069c"), "a\\u{2066}b\\u{2069}c");
  EXPECT_EQ(escape_for_terminal("zero\u200bwidth\ufeff"), "zero\\u{200b}width\\u{feff}");
  for (std::uint32_t cp : {0x061Cu, 0x200Bu, 0x200Cu, 0x200Du, 0x200Eu, 0x200Fu, 0x2028u, 0x2029u,
                           0x202Au, 0x202Bu, 0x202Cu, 0x202Du, 0x202Eu, 0x2060u, 0x2061u, 0x2062u,
                           0x2063u, 0x2064u, 0x2066u, 0x2067u, 0x2068u, 0x2069u, 0xFEFFu}) {
    const std::string raw = utf8(cp);
    EXPECT_EQ(escape_for_terminal(raw), shown_as(cp)) << std::hex << cp;
  }
  // Their neighbours are ordinary text.
  for (std::uint32_t cp : {0x200Au, 0x2010u, 0x2027u, 0x202Fu, 0x205Fu, 0x206Au, 0xFEFEu})
    EXPECT_EQ(escape_for_terminal(utf8(cp)), utf8(cp)) << std::hex << cp;
}

TEST(Escape, JsonEscapesC1BidiAndInvisibleCharacters) {
  std::string doc;
  append_json_string_body(doc, "csi\xc2\x9b"
                               "31m ab\u202etxt \u2066x\u2069 \u200b\ufeff\u2028");
  EXPECT_EQ(doc, "csi\\u009b31m ab\\u202etxt \\u2066x\\u2069 \\u200b\\ufeff\\u2028");
  EXPECT_EQ(nlohmann::json::parse("\"" + doc + "\"").get<std::string>(),
            "csi\xc2\x9b"
            "31m ab\u202etxt \u2066x\u2069 \u200b\ufeff\u2028");
}

TEST(Escape, NoticeLinesAreEscaped) {
  std::ostringstream err;
  write_notice(err, "sockdoctor ls: ", "unknown state '\x1b[2J\u202e'\n");
  EXPECT_EQ(err.str(), "sockdoctor ls: unknown state '\\x1b[2J\\u{202e}'\\x0a\n");
}
