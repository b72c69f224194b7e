// Option validators that see the typed text: CLI11 alone turns "-1" into a huge unsigned, takes
// "18446744073709551616" and "" without a word, so numbers and addresses are checked as text.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace sockdoctor::cli {

// A decimal integer in [min, max] and nothing else: no sign, no spaces, not empty.
CLI::Validator integer_in(std::uint64_t min, std::uint64_t max, const std::string& what);

// Any text but the empty string (an empty --peer or topic is a mistake, not "everything").
CLI::Validator not_empty(const std::string& what);

// A number of seconds >= 0, finite (check's --min-age, serve's intervals and timeouts).
CLI::Validator non_negative_seconds();

// A duration (90s, 30m, 2h, 7d, 1h30m) or "all"; `examples` goes into the error message.
CLI::Validator duration_or_all(const std::string& examples);

} // namespace sockdoctor::cli
