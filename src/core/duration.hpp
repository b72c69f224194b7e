// How long something has lasted, for people: the project's one duration format, in two spellings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sockdoctor::core {

// For sentences: "4.5 s", "45 s", "5 min 12 s", "2 h 13 min", "3 d 04 h". Tenths below 10 s.
std::string prose_duration(double seconds);

// For tables and status lines: "59s", "4m10s", "2h03m", "3d04h". Whole seconds, rounded down.
std::string compact_duration(double seconds);

// Both: negative and non-finite values read as 0; two units at most, the smaller one truncated.

} // namespace sockdoctor::core

namespace sockdoctor::core {

// What people type for a span of time: "90" or "90s", "30m", "2h", "7d", and sums such as
// "1h30m" (units s, m, h, d; decimals allowed: "1.5h"). nullopt for anything else, for a
// negative or non-finite value, and for the empty string.
std::optional<double> parse_duration(std::string_view text);

} // namespace sockdoctor::core
