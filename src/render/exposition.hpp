// Writes metric families in the Prometheus text format or OpenMetrics: the HELP/TYPE/UNIT
// header, the suffixes each format wants (_total, _info), label escaping, # EOF.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "render/prometheus.hpp"

namespace sockdoctor::render {

enum class MetricType : std::uint8_t { Gauge, Counter, Info };

using Labels = std::vector<std::pair<std::string_view, std::string>>;

class Exposition {
public:
  explicit Exposition(ExpositionFormat format) : format_(format) {}

  // Starts a family. `base` has no _total/_info suffix (the writer adds them); a non-empty unit
  // must be the end of `base` ("seconds"); OpenMetrics states it on a UNIT line.
  void
  family(std::string_view base, MetricType type, std::string_view help, std::string_view unit = {});
  // One sample of the current family. Label values are raw (escaped here).
  void sample(const Labels& labels, double value);
  void sample(const Labels& labels, std::uint64_t value);
  // The text so far, with OpenMetrics' "# EOF" terminator.
  std::string finish();

  std::size_t samples() const { return samples_; }

private:
  void labels(const Labels& labels);

  ExpositionFormat format_;
  std::string out_;
  std::string sample_name_;
  std::size_t samples_ = 0;
};

// A label value as Prometheus wants it: terminal-escaped first (no controls, no invalid UTF-8,
// no bidi overrides), then backslash and double quote escaped for the exposition format.
void append_label_value(std::string& out, std::string_view raw);

} // namespace sockdoctor::render
