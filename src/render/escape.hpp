// Process names, command lines and paths are attacker-controlled: make them safe for a terminal.
#pragma once

#include <string>
#include <string_view>

namespace sockdoctor::render {

// Escapes C0 controls, DEL, C1 controls (U+0080..U+009F) and invalid UTF-8 bytes as \xNN, and
// backslash as \\, so nothing that reaches a terminal can move the cursor, set colours or retitle
// it. Valid printable UTF-8 passes through unchanged.
std::string escape_for_terminal(std::string_view raw);
void append_escaped_for_terminal(std::string& out, std::string_view raw);

// Appends raw as the contents of a JSON string (no quotes): JSON escapes for controls, quotes and
// backslash; invalid UTF-8 bytes become the text \xNN so the output is always valid UTF-8 JSON.
void append_json_string_body(std::string& out, std::string_view raw);

// Bytes of the escape that starts at escaped[i] (\xNN or \\), or 0 if none starts there: what
// truncate() must never split.
std::size_t escape_length(std::string_view escaped, std::size_t i);

} // namespace sockdoctor::render
