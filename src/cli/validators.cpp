// Text validators for numeric and free-text options (see validators.hpp for why).
#include "cli/validators.hpp"

#include <charconv>

#include <fmt/format.h>

namespace sockdoctor::cli {

CLI::Validator integer_in(std::uint64_t min, std::uint64_t max, const std::string& what) {
  auto check = [=](std::string& text) -> std::string {
    std::uint64_t v = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    // from_chars takes no sign for an unsigned type, so "-1" and "+1" fail here.
    if (text.empty() || ec != std::errc() || ptr != end || v < min || v > max)
      return fmt::format("expected {} from {} to {}, got '{}'", what, min, max, text);
    return {};
  };
  return CLI::Validator(check, fmt::format("{} {}..{}", what, min, max));
}

CLI::Validator not_empty(const std::string& what) {
  auto check = [=](std::string& text) -> std::string {
    return text.empty() ? "expected " + what + ", got an empty string" : std::string();
  };
  return CLI::Validator(check, what);
}

} // namespace sockdoctor::cli
