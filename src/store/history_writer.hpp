// The writer `serve` records history with: one run row per start, then one transaction per
// interval (its counts, holders, budgets and findings), old intervals pruned on the way.
//
//   auto w = store::HistoryWriter::open("/var/lib/sockdoctor/history.db", {.interval_s = 10});
//   w->note_start(now);                 // once per daemon start: restarts show in `history`
//   w->record(model, now);              // every interval
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "analyze/host_model.hpp"
#include "core/error.hpp"
#include "store/history.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

namespace sockdoctor::store {

inline constexpr const char* kDefaultHistoryPath = "/var/lib/sockdoctor/history.db";
inline constexpr double kDefaultRetentionSeconds = 14 * 86400.0;

struct WriterOptions {
  double interval_s = 10;                        // the sampling period (stored per run)
  double retention_s = kDefaultRetentionSeconds; // intervals older than this are deleted
  double prune_every_s = 60;                     // how often the retention DELETE runs
  std::string version = "0.1.0";                 // sockdoctor's version, per run
  std::int32_t pid = 0;                          // the daemon's pid; 0: this process
  RecordLimits limits;
  OpenOptions open;
};

// Unix time in seconds.
double unix_seconds(std::chrono::system_clock::time_point t);

// One connection, opened without SQLite's mutex: use a writer from one thread at a time.
class HistoryWriter {
public:
  static core::Result<HistoryWriter> open(const std::string& path, WriterOptions options = {});

  HistoryWriter(HistoryWriter&&) noexcept;
  HistoryWriter& operator=(HistoryWriter&&) noexcept;
  ~HistoryWriter();

  // A run row: the daemon (re)started at `time` (Unix seconds). record() adds one if none yet.
  core::Result<void> note_start(double time);
  core::Result<void> note_start(std::chrono::system_clock::time_point time) {
    return note_start(unix_seconds(time));
  }

  // One interval, in one transaction; also deletes intervals older than the retention when a
  // prune is due (at most every prune_every_s of recorded time).
  core::Result<void> record(const analyze::HostModel& model,
                            std::chrono::system_clock::time_point time);
  core::Result<void> record(const IntervalRecord& interval); // its time, holders, ...

  // Deletes intervals before `cutoff` (Unix seconds) and runs left without intervals; returns
  // how many intervals went.
  core::Result<std::uint64_t> prune_before(double cutoff);

  const std::string& path() const { return db_.path(); }
  std::optional<std::int64_t> run_id() const { return run_; }

private:
  struct Statements;
  HistoryWriter(Database db, WriterOptions options, std::unique_ptr<Statements> st);
  core::Result<void> write_interval(const IntervalRecord& r);

  Database db_;
  WriterOptions options_;
  std::unique_ptr<Statements> st_;
  std::optional<std::int64_t> run_;
  std::optional<double> last_prune_;
};

} // namespace sockdoctor::store
