// Small pure text helpers every decoder shares: whole-string numbers, trimming, word splitting.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

namespace sockdoctor::core {

inline constexpr std::string_view kBlanks = " \t\r\n";

// The whole of s as a number of type T; nullopt if empty, not a number, out of range, or followed
// by anything.
template <typename T> std::optional<T> parse_number(std::string_view s) {
  T value{};
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (s.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

inline std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(kBlanks);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(kBlanks);
  return s.substr(b, e - b + 1);
}

// Splits on runs of blanks; no empty words.
inline std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const auto b = s.find_first_not_of(kBlanks);
    if (b == std::string_view::npos) break;
    s.remove_prefix(b);
    const auto e = s.find_first_of(kBlanks);
    out.push_back(s.substr(0, e));
    if (e == std::string_view::npos) break;
    s.remove_prefix(e);
  }
  return out;
}

// The first word of s (up to a blank), leading blanks skipped.
inline std::string_view first_word(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  s.remove_prefix(b);
  return s.substr(0, s.find_first_of(kBlanks));
}

// What follows `key` on the first line that starts with it, leading blanks removed, up to the end
// of that line ("Uid:\t0\t0..." with key "Uid:" -> "0\t0...").
inline std::string_view line_value(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (line.starts_with(key)) {
      line.remove_prefix(key.size());
      const auto start = line.find_first_not_of(" \t");
      return start == std::string_view::npos ? std::string_view{} : line.substr(start);
    }
    pos = eol + 1;
  }
  return {};
}

} // namespace sockdoctor::core
