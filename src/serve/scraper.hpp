// Coalesced scrapes: concurrent /metrics requests share one sample, never two dumps at once, and
// a sample younger than --min-interval is served again rather than taken anew. The same thread
// records a sample into the history database every history interval, scraped or not.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "collect/sampler.hpp"
#include "render/prometheus.hpp"
#include "store/history_writer.hpp"

namespace sockdoctor::serve {

// One sample rendered in both formats (rendering costs little next to the dump).
struct Scrape {
  std::string text;
  std::string openmetrics;
  double sample_seconds = 0; // how long sampling, analysis and rendering took
  std::string status_html;   // the status page's part of this sample (render_status_sample)
  double sampled_at = 0;     // Unix time the sockets were listed
};

// Where and how often serve records history (`serve --db`).
struct HistoryRecording {
  std::string path;            // the SQLite database
  bool required = false;       // an explicit --db: failing to open it is an error, not a notice
  store::WriterOptions writer; // writer.interval_s is the recording period
};

struct ScraperOptions {
  collect::SamplerOptions sampler;
  std::optional<HistoryRecording> history; // none: serve records nothing
  std::ostream* err = nullptr;             // one notice per history problem
  std::chrono::milliseconds min_interval{0};
  render::SeriesLimits limits;
  render::ExporterInfo info;
};

class Scraper {
public:
  // Opens the history database first; an explicit database that cannot be opened is an error,
  // the default one is a notice on options.err and serve goes on without history.
  static core::Result<std::unique_ptr<Scraper>> start(ScraperOptions options);
  explicit Scraper(ScraperOptions options, std::optional<store::HistoryWriter> writer = {});
  ~Scraper();
  Scraper(const Scraper&) = delete;
  Scraper& operator=(const Scraper&) = delete;

  // The newest scrape: the last one if it is younger than min_interval, else the one in progress
  // (waiting for it), else a new one (asked of the sampling thread, waiting for it). Never
  // throws; a failed dump gives metrics that say so (sockdoctor_collector_success 0).
  std::shared_ptr<const Scrape> get();

  std::uint64_t samples_taken() const;

  // The database history is recorded into; "" when serve records none. Fixed at start.
  const std::string& history_path() const { return history_path_; }

private:
  std::shared_ptr<const Scrape> take(bool record);
  void history_problem(const std::string& message);
  void work(); // the sampling thread

  ScraperOptions options_;
  collect::Sampler sampler_;                   // used by worker_ only
  std::optional<store::HistoryWriter> writer_; // used by worker_ only
  std::string history_path_;
  std::chrono::steady_clock::duration history_period_{};
  std::chrono::steady_clock::time_point history_due_{}; // the next record
  // How early a record may ride on a scrape's sample: min(interval / 4, 15 s). Records stay one
  // per interval on average (the next is due an interval after this one was).
  std::chrono::steady_clock::duration history_slack_{};
  bool history_failed_ = false; // said once on err
  mutable std::mutex mutex_;
  std::condition_variable wanted_; // a scrape wants a new sample
  std::condition_variable done_;   // a sample was published
  bool requested_ = false;
  bool running_ = false;
  bool stopping_ = false;
  std::uint64_t generation_ = 0;
  std::shared_ptr<const Scrape> last_;
  std::chrono::steady_clock::time_point last_at_{};
  std::thread worker_; // last: starts after every member it uses
};

} // namespace sockdoctor::serve
