// One duration formatter: the two spellings differ only in unit names, spacing and thresholds.
#include "core/duration.hpp"

#include <charconv>
#include <cmath>

namespace sockdoctor::core {
namespace {

struct Spelling {
  const char* day;
  const char* hour;
  const char* minute;
  const char* second;
  const char* gap;        // between the two units
  long long minutes_from; // below this many seconds, seconds alone
  bool tenths_below_ten;  // "4.5 s"
};

constexpr Spelling kProse{" d", " h", " min", " s", " ", 100, true};
constexpr Spelling kCompact{"d", "h", "m", "s", "", 60, false};

// Far beyond any socket's age, and small enough for a long long.
constexpr double kMaxSeconds = 1e15;

void append_number(std::string& out, long long v, int min_digits = 1) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  for (auto n = end - buf; n < min_digits; ++n)
    out += '0';
  out.append(buf, end);
}

// "<big><unit><gap><small, two digits><unit>"
std::string
two_units(const Spelling& s, long long big, const char* u1, long long small, const char* u2) {
  std::string out;
  append_number(out, big);
  out += u1;
  out += s.gap;
  append_number(out, small, 2);
  out += u2;
  return out;
}

std::string format(double seconds, const Spelling& s) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  if (seconds > kMaxSeconds) seconds = kMaxSeconds;
  if (s.tenths_below_ten && seconds < 10) {
    char buf[16];
    const auto end = std::to_chars(buf, buf + sizeof buf, seconds, std::chars_format::fixed, 1).ptr;
    return std::string(buf, end) + s.second;
  }
  const auto t = static_cast<long long>(std::floor(seconds));
  if (t < s.minutes_from) {
    std::string out;
    append_number(out, t);
    return out + s.second;
  }
  if (t < 3600) return two_units(s, t / 60, s.minute, t % 60, s.second);
  if (t < 86400) return two_units(s, t / 3600, s.hour, (t % 3600) / 60, s.minute);
  return two_units(s, t / 86400, s.day, (t % 86400) / 3600, s.hour);
}

} // namespace

std::string prose_duration(double seconds) {
  return format(seconds, kProse);
}

std::string compact_duration(double seconds) {
  return format(seconds, kCompact);
}

} // namespace sockdoctor::core

namespace sockdoctor::core {

std::optional<double> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  bool bare = true; // a plain number means seconds, but only alone
  while (!text.empty()) {
    double v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr == text.data() || !std::isfinite(v) || v < 0) return std::nullopt;
    text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
    if (text.empty()) {
      if (!bare) return std::nullopt; // "1h30": 30 of what?
      return total + v;
    }
    bare = false;
    const char unit = text.front();
    text.remove_prefix(1);
    const double scale = unit == 's'   ? 1
                         : unit == 'm' ? 60
                         : unit == 'h' ? 3600
                         : unit == 'd' ? 86400
                                       : 0;
    if (scale == 0) return std::nullopt;
    total += v * scale;
  }
  return std::isfinite(total) ? std::optional(total) : std::nullopt;
}

} // namespace sockdoctor::core
