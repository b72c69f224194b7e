// Escaping of attacker-controlled strings for terminals and JSON.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "render/escape.hpp"

using sockdoctor::render::append_json_string_body;
using sockdoctor::render::escape_for_terminal;

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
