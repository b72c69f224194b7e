// Prometheus text format 0.0.4 and OpenMetrics 1.0 writer.
#include "render/exposition.hpp"

#include <fmt/format.h>

#include <cmath>

#include "render/escape.hpp"

namespace sockdoctor::render {

void append_label_value(std::string& out, std::string_view raw) {
  // escape_for_terminal leaves no newline and turns '\' into "\\"; the exposition format then
  // needs each backslash doubled again and '"' escaped, so a reader gets the terminal form back.
  for (char c : escape_for_terminal(raw)) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
}

void Exposition::family(std::string_view base,
                        MetricType type,
                        std::string_view help,
                        std::string_view unit) {
  const bool om = format_ == ExpositionFormat::OpenMetrics;
  std::string_view type_name = "gauge";
  std::string_view suffix;
  if (type == MetricType::Counter) {
    type_name = "counter";
    suffix = "_total";
  } else if (type == MetricType::Info) {
    type_name = om ? "info" : "gauge"; // the text format has no info type: a gauge of 1
    suffix = "_info";
  }
  sample_name_ = std::string(base) + std::string(suffix);
  // OpenMetrics names the family without the sample suffix; the text format names the samples.
  const std::string family_name = om ? std::string(base) : sample_name_;
  // HELP escapes: backslash and newline in both formats; OpenMetrics also escapes '"'.
  std::string escaped;
  for (char c : help) {
    if (c == '\\' || (om && c == '"')) escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", family_name, escaped,
                 family_name, type_name);
  if (om && !unit.empty()) fmt::format_to(std::back_inserter(out_), "# UNIT {} {}\n", base, unit);
}

void Exposition::labels(const Labels& labels) {
  out_ += sample_name_;
  if (labels.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += name;
    out_ += "=\"";
    append_label_value(out_, value);
    out_ += '"';
  }
  out_ += '}';
}

void Exposition::sample(const Labels& l, double value) {
  labels(l);
  if (std::isnan(value))
    out_ += " NaN\n";
  else if (std::isinf(value))
    out_ += value > 0 ? " +Inf\n" : " -Inf\n";
  else // microseconds are enough for ages and durations, and keep 0.4 from printing 0.399999
    fmt::format_to(std::back_inserter(out_), " {}\n", std::round(value * 1e6) / 1e6);
  ++samples_;
}

void Exposition::sample(const Labels& l, std::uint64_t value) {
  labels(l);
  fmt::format_to(std::back_inserter(out_), " {}\n", value);
  ++samples_;
}

std::string Exposition::finish() {
  if (format_ == ExpositionFormat::OpenMetrics) out_ += "# EOF\n";
  return std::move(out_);
}

} // namespace sockdoctor::render
