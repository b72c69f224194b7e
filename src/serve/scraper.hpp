// Coalesced scrapes: concurrent /metrics requests share one sample, never two dumps at once, and
// a sample younger than --min-interval is served again rather than taken anew.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

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

  // The newest scrape: the last one if it is younger than min_interval, else the one in progress
  // (waiting for it), else a new one taken by this caller. Never throws; a failed dump gives
  // metrics that say so (sockdoctor_collector_success{collector="sockets"} 0).
  std::shared_ptr<const Scrape> get();

  std::uint64_t samples_taken() const;

private:
  std::shared_ptr<const Scrape> take();

  ScraperOptions options_;
  collect::Sampler sampler_; // used by one thread at a time (the one with running_ set)
  mutable std::mutex mutex_;
  std::condition_variable done_;
  bool running_ = false;
  std::uint64_t generation_ = 0;
  std::shared_ptr<const Scrape> last_;
  std::chrono::steady_clock::time_point last_at_{};
};

} // namespace sockdoctor::serve
