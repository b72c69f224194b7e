// The history model: what `serve` records every interval (per-state counts, stuck-socket holders,
// the fullest ephemeral port budgets, findings) and the daemon runs that recorded it, as plain
// rows. HistoryWriter stores them, read_history() reads a window back, history_trends.hpp turns
// them into onsets, growth rates and restarts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyze/findings.hpp"
#include "analyze/host_model.hpp"
#include "core/sample.hpp"

namespace sockdoctor::store {

// PRAGMA user_version of the databases this build writes; it reads this one and older ones.
inline constexpr int kSchemaVersion = 1;
// PRAGMA application_id of a sockdoctor history database ("SDHI"): tells ours from any other
// SQLite file, even an empty one.
inline constexpr std::int32_t kApplicationId = 0x53444849;

// One start of the recording daemon.
struct RunRecord {
  std::int64_t id = 0;
  double started = 0; // Unix time, seconds
  std::int32_t pid = 0;
  double interval_s = 0; // its sampling period
  std::string version;   // sockdoctor's version
};

// A process holding CLOSE_WAIT / FIN_WAIT2 sockets in one interval (analyze::StuckHolder).
struct HolderRecord {
  std::int32_t pid = 0; // analyze::kOwnerPending, analyze::kNoOwner, or a pid
  std::string name;     // comm, raw (attacker-controlled: escape on output)
  std::uint64_t close_wait = 0;
  std::uint64_t fin_wait2 = 0;
  std::optional<double> oldest_s; // age of its oldest stuck socket
  std::string unit;               // systemd unit or container id ("" when unknown)
};

// One ephemeral port budget (analyze::PortBudget), by destination.
struct BudgetRecord {
  std::uint32_t netns = 0;
  std::string source;      // "10.0.0.1"
  std::string destination; // "10.0.0.5:5432", "[::1]:80"
  std::uint64_t time_wait = 0;
  std::uint64_t fin_wait2 = 0;
  std::uint64_t live = 0;
  std::int64_t usable = 0;
};

struct FindingRecord {
  std::string rule; // analyze::Finding::id
  analyze::Severity severity = analyze::Severity::Info;
  std::string title; // raw
  std::int32_t pid = 0;
  std::uint64_t count = 0;
};

// What one interval recorded.
struct IntervalRecord {
  std::int64_t id = 0;
  std::int64_t run = 0;
  double time = 0; // Unix time, seconds
  std::uint64_t total = 0;
  core::StateCounts states{}; // indexed by TcpState
  std::vector<HolderRecord> holders;
  std::vector<BudgetRecord> budgets;
  std::vector<FindingRecord> findings;
};

// Bounds per interval: a host with thousands of leaking processes must not write thousands of
// rows every few seconds. The holders with the most stuck sockets, the fullest budgets and the
// most severe findings are kept (the model sorts them so).
struct RecordLimits {
  std::size_t holders = 50;
  std::size_t budgets = 20;
  std::size_t findings = 50;
};

// The aggregates of one analysed sample, as `serve` records them at Unix time `time`.
IntervalRecord
interval_record(const analyze::HostModel& model, double time, const RecordLimits& limits = {});

// What read_history() returns: the runs, and the intervals of the window in time order.
struct History {
  std::string path;
  std::vector<RunRecord> runs; // every run in the database, oldest first
  std::vector<IntervalRecord> intervals;
  double window_start = 0; // Unix time the window starts (inclusive)
  double window_end = 0;   // and ends (inclusive)
  std::uint64_t intervals_in_database = 0;
  std::optional<double> first_recorded; // the oldest interval in the database
  std::optional<double> last_recorded;  // the newest
};

} // namespace sockdoctor::store
