// Coalesced scrapes: concurrent /metrics requests share one sample, never two dumps at once, and
// a sample younger than --min-interval is served again rather than taken anew.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "collect/sampler.hpp"
#include "render/prometheus.hpp"

namespace sockdoctor::serve {

// One sample rendered in both formats (rendering costs little next to the dump).
struct Scrape {
  std::string text;
  std::string openmetrics;
  double sample_seconds = 0; // how long sampling, analysis and rendering took
};

struct ScraperOptions {
  collect::SamplerOptions sampler;
  std::chrono::milliseconds min_interval{0};
  render::SeriesLimits limits;
  render::ExporterInfo info;
};

class Scraper {
public:
  explicit Scraper(ScraperOptions options);
  ~Scraper();
  Scraper(const Scraper&) = delete;
  Scraper& operator=(const Scraper&) = delete;

  // The newest scrape: the last one if it is younger than min_interval, else the one in progress
  // (waiting for it), else a new one (asked of the sampling thread, waiting for it). Never
  // throws; a failed dump gives metrics that say so (sockdoctor_collector_success 0).
  std::shared_ptr<const Scrape> get();

  std::uint64_t samples_taken() const;

private:
  std::shared_ptr<const Scrape> take();
  void work(); // the sampling thread

  ScraperOptions options_;
  collect::Sampler sampler_; // used by worker_ only
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
