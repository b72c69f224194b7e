// Findings model helpers: names, lookups, ordering.
#include "analyze/findings.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include <fmt/format.h>

namespace sockdoctor::analyze {

std::string_view severity_name(Severity s) {
  switch (s) {
  case Severity::Info:
    return "info";
  case Severity::Warning:
    return "warning";
  case Severity::Critical:
    return "critical";
  }
  return "info";
}

const EvidenceItem* Finding::find(std::string_view key) const {
  for (const auto& e : evidence)
    if (e.key == key) return &e;
  return nullptr;
}

Severity Diagnosis::worst() const {
  Severity w = Severity::Info;
  for (const auto& f : findings)
    w = std::max(w, f.severity);
  return w;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const auto s = static_cast<long long>(std::floor(seconds));
  if (seconds < 10) return fmt::format("{:.1f} s", seconds);
  if (s < 100) return fmt::format("{} s", s);
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{} h {:02} min", s / 3600, (s % 3600) / 60);
  return fmt::format("{} d {:02} h", s / 86400, (s % 86400) / 3600);
}

void sort_findings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    const double age_a = a.oldest_age_seconds.value_or(-1);
    const double age_b = b.oldest_age_seconds.value_or(-1);
    return std::tie(b.severity, b.count, age_b, a.id, a.title) <
           std::tie(a.severity, a.count, age_a, b.id, b.title);
  });
}

} // namespace sockdoctor::analyze
