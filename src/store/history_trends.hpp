// What a window of history says: per holder, when its CLOSE_WAIT count started its current rise
// (the onset), how fast it grows, and whether its process was replaced; per window, the restarts
// of the recording daemon. Pure functions of the rows, so they are tested without a database.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/history.hpp"

namespace sockdoctor::store {

// Least-squares slope of y over x (units of y per unit of x); 0 with fewer than two distinct x.
double least_squares_slope(std::span<const double> x, std::span<const double> y);

// The onset of the current rise of a series: the index after the LAST occurrence of the
// series' minimum, when the series ends above that minimum; nullopt when it does not (flat or
// falling back to its low). So for a holder whose count fell to 0 at a restart and then grew,
// the onset is the first interval of the new growth; dips that stay above the window's low do
// not move it. The true start lies between the interval before the onset and the onset.
std::optional<std::size_t> rise_onset(std::span<const double> y);

// A holder whose set of pids was replaced: no pid it had at its previous appearance is among
// the pids it has now (a restart or a re-exec under the same name).
struct PidChange {
  double time = 0; // the first interval with the new pids
  std::vector<std::int32_t> before;
  std::vector<std::int32_t> after;
};

struct HolderTrend {
  std::string name;               // comm (raw); "" for sockets no process holds
  std::vector<std::int32_t> pids; // at its last appearance, ascending
  std::uint64_t close_wait = 0;   // at the last interval of the window
  std::uint64_t fin_wait2 = 0;    // at the last interval of the window
  std::uint64_t peak_close_wait = 0;
  std::optional<double> oldest_s; // its oldest stuck socket at its last appearance
  double first_seen = 0;          // first interval of the window it appears in
  double last_seen = 0;
  std::optional<double> onset;        // Unix time of the first interval of the current rise
  bool onset_at_window_start = false; // the rise may have begun before the window
  double growth_per_hour = 0;         // CLOSE_WAIT per hour: least squares over the current rise
                                      // (from the interval before the onset), else the window
  std::vector<PidChange> restarts;
  std::vector<double> close_wait_series; // per interval of the window, 0 where absent

  bool rising() const { return onset.has_value() && growth_per_hour > 0; }
};

struct DaemonRun {
  RunRecord run;
  bool restart = false; // not the first run the database knows
};

// A stretch with no intervals: longer than 3 recording intervals between two intervals (the
// recorder was stopped, or the machine was off).
struct Gap {
  double from = 0; // the last interval before it
  double to = 0;   // the first interval after it
};

struct TrendOptions {
  std::string holder; // only this comm ("" every holder)
};

struct HistoryTrends {
  std::vector<double> times;            // each interval of the window
  std::vector<double> close_wait_total; // host-wide CLOSE_WAIT per interval
  std::vector<HolderTrend> holders;     // rising first (fastest first), then by CLOSE_WAIT
  std::vector<DaemonRun> runs;          // runs that started inside the window
  std::size_t daemon_restarts = 0;
  std::vector<Gap> gaps;
  std::vector<FindingRecord> findings; // of the last interval
  std::optional<double> interval_s;    // median spacing of the intervals
  core::StateCounts states_now{};      // of the last interval
};

HistoryTrends history_trends(const History& history, const TrendOptions& options = {});

} // namespace sockdoctor::store
