// The host model as Prometheus metrics: the text exposition format 0.0.4 or OpenMetrics 1.0,
// with bounded cardinality (top N holders, destinations and namespaces; the rest in "other").
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "analyze/host_model.hpp"

namespace sockdoctor::render {

enum class ExpositionFormat : std::uint8_t {
  Text,        // text/plain; version=0.0.4
  OpenMetrics, // application/openmetrics-text; version=1.0.0
};

// The Content-Type header that goes with a format.
std::string_view content_type(ExpositionFormat f);

// What bounds the number of series; each row beyond the limit is summed into one "other" row.
struct SeriesLimits {
  std::size_t holders = 20;      // CLOSE_WAIT/FIN_WAIT2 holders and TIME_WAIT causes
  std::size_t destinations = 20; // ephemeral port budgets
  std::size_t namespaces = 50;   // network namespaces (state counts, kernel counters)
};

// The number of series render_prometheus writes at most with these limits (documented in
// `serve --help`). `missing` is the number of sockdoctor_capability_missing rows.
std::size_t worst_case_series(const SeriesLimits& limits, std::size_t missing = 4);

// About the exporter itself rather than the host.
struct ExporterInfo {
  std::string version;
  std::uint32_t own_netns = 0; // inode that replaces 0 (the exporter's namespace) in labels
  // What it cannot see for lack of privileges ("owners_of_other_users", "all_netns", ...).
  std::vector<std::string> missing;
  std::uint64_t samples = 0; // samples taken since start, this one included
};

// Writes every metric family of one scrape. Label values (process names, unit and pod names)
// are escaped like terminal text first, so they are always valid UTF-8 without controls.
void render_prometheus(std::ostream& out,
                       const analyze::HostModel& model,
                       const ExporterInfo& info,
                       const SeriesLimits& limits,
                       ExpositionFormat format);

} // namespace sockdoctor::render
