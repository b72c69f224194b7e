// Findings model helpers: names, lookups, ordering.
#include "analyze/findings.hpp"

#include <algorithm>
#include <tuple>

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

void sort_findings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    const double age_a = a.oldest_age_seconds.value_or(-1);
    const double age_b = b.oldest_age_seconds.value_or(-1);
    return std::tie(b.severity, b.count, age_b, a.id, a.title) <
           std::tie(a.severity, a.count, age_a, b.id, b.title);
  });
}

} // namespace sockdoctor::analyze
