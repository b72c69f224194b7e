// Text validators for numeric and free-text options (see validators.hpp for why).
#include "cli/validators.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "core/duration.hpp"

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

CLI::Validator non_negative_seconds() {
  auto check = [](std::string& v) {
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    const bool ok = end != v.c_str() && *end == '\0' && d >= 0 && std::isfinite(d);
    return ok ? std::string() : "expected a number of seconds >= 0, got '" + v + "'";
  };
  return CLI::Validator(check, "SECONDS", "non-negative seconds");
}

CLI::Validator duration_or_all(const std::string& examples) {
  auto check = [examples](std::string& v) {
    return v == "all" || core::parse_duration(v)
               ? std::string()
               : "expected a duration such as " + examples + " or all, got '" + v + "'";
  };
  return CLI::Validator(check, "DURATION", "duration");
}

} // namespace sockdoctor::cli
