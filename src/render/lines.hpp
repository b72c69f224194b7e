// `sockdoctor top --lines`: one timestamped text line, or one NDJSON object, per interval.
#pragma once

#include <cstddef>
#include <string>

#include "analyze/top_model.hpp"

namespace sockdoctor::render {

struct LineOptions {
  double interval_seconds = 1;
  std::size_t max_items = 10; // per list in JSON, leaks listed in text
};

// "2025-11-21T06:10:01.250+01:00" in local time.
std::string iso_time(analyze::Clock::time_point t);

// One line, '\n'-terminated:
//   <time> total=N <state>=N ... | changed: <state> +D (+NEW/-GONE), ... | leak: pid P (comm)
//   close_wait=N +G/min; ... | churn: close_wait A/min in, D/min out | findings: N (worst: id)
// States are snake_case and listed when non-zero; a '~' before a count marks a kernel counter
// (the state's sockets were not listed this interval). Process names are escaped.
std::string format_top_line(const analyze::TopModel& m, const LineOptions& o);

// One JSON object, '\n'-terminated (NDJSON). Fields (schema_version 1):
//   time, sample, interval_s, total,
//   states {<snake_state>: count} (every state), listed_states [names], changed {state: delta},
//   appeared {state: n}, departed {state: n}  (non-zero entries only),
//   close_wait {count, long_lived, growth_per_min, arrivals_per_min, departures_per_min,
//               retained, window_s, trend},
//   holders [{pid, comm, close_wait, fin_wait2, oldest_age_s, age_basis, age_lower_bound, trend}]
//     (pid -1: owner not yet scanned, 0: no process, e.g. an accept queue or an orphan),
//   peers [{peer, close_wait, oldest_age_s, trend}],
//   time_wait [{pid, comm, how, where, time_wait, oldest_age_s}]  (how: traced, listener,
//     sole_client, unknown), destinations [{destination, source, in_use, time_wait, usable,
//     fraction}], findings [{severity, id, title}],
//   detail_age_s, owners_age_s (null: never scanned), owners_denied, filter.
// trend objects are the close_wait one; ages are null when unknown.
std::string format_top_json(const analyze::TopModel& m, const LineOptions& o);

} // namespace sockdoctor::render
