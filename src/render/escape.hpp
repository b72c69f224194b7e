// Process names, command lines and paths are attacker-controlled: the one escaping path for
// terminals, error streams and JSON.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

namespace sockdoctor::render {

// Characters that change what a terminal shows, and how each is written (stable: scripts and
// tests match on it):
//   C0 controls, DEL, C1 controls (U+0080..U+009F)  \xNN for each UTF-8 byte ("\x1b", "\xc2\x9b")
//   bytes that are not valid UTF-8                 \xNN ("\xff")
//   bidi controls and invisible characters          \u{XXXX}, lowercase hex ("\u{202e}"):
//     U+061C, U+200B..U+200F, U+2028..U+202E, U+2060..U+2069, U+FEFF
//   backslash                                       \\ (so every other backslash starts an escape)
// so nothing that reaches a terminal can move the cursor, set colours, retitle it, reorder text
// ("ab\u202etxt.exe" would show as "abexe.txt") or hide it. Other valid UTF-8 passes unchanged.
std::string escape_for_terminal(std::string_view raw);
void append_escaped_for_terminal(std::string& out, std::string_view raw);

// Raw text as HTML or XML text or attribute value (the status page, SVG charts): the terminal
// escape first (controls, bidi), then the five markup specials (' as &#39;, valid in both).
std::string escape_for_markup(std::string_view raw);

// One line for an error or notice stream: prefix and text escaped like any terminal text (a
// newline inside becomes \x0a), then '\n', in a single write. Every message that quotes input
// (a bad argument, a file's content, a process name) goes through here.
void write_notice(std::ostream& out, std::string_view prefix, std::string_view text);

// Appends raw as the contents of a JSON string (no quotes): \" and \\; \uXXXX for C0 and C1
// controls, DEL and the bidi and invisible characters above (a JSON viewer is a terminal too);
// invalid UTF-8 bytes become the text \xNN, so the output is always valid UTF-8 JSON.
void append_json_string_body(std::string& out, std::string_view raw);

// Bytes of the escape that starts at escaped[i] (\xNN, \u{XXXX} or \\), or 0 if none starts
// there: what truncate() must never split.
std::size_t escape_length(std::string_view escaped, std::size_t i);

} // namespace sockdoctor::render
