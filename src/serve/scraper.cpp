// Coalescing of scrapes onto one sampler.
#include "serve/scraper.hpp"

#include <malloc.h>

#include <sstream>

#include "analyze/host_model.hpp"
#include "render/escape.hpp"

namespace sockdoctor::serve {

Scraper::Scraper(ScraperOptions options)
    : options_(std::move(options)), sampler_(options_.sampler) {
  worker_ = std::thread([this] { work(); });
}

Scraper::~Scraper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wanted_.notify_all();
  worker_.join();
}

std::shared_ptr<const Scrape> Scraper::get() {
  std::unique_lock lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (last_ && now - last_at_ < options_.min_interval) return last_;
  // Share the sample in progress: it started before this request arrived, but waiting for it
  // costs less than one more dump, and a scrape never waits for more than one sample.
  const auto gen = generation_;
  if (!running_) {
    requested_ = true;
    wanted_.notify_one();
  }
  done_.wait(lock, [&] { return generation_ != gen; });
  return last_;
}

// Samples are taken on this one thread: a 100k-socket sample allocates about 12 MB, and glibc
// keeps what a thread frees in that thread's arena, so sampling on whichever HTTP worker asked
// would leave one sample's worth of memory behind in every worker's arena.
void Scraper::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wanted_.wait(lock, [&] { return requested_ || stopping_; });
    if (stopping_) return;
    requested_ = false;
    running_ = true;
    lock.unlock();
    std::shared_ptr<const Scrape> fresh;
    try {
      fresh = take();
    } catch (const std::exception& e) {
      auto failed = std::make_shared<Scrape>();
      failed->text = "# sample failed: " + render::escape_for_terminal(e.what()) + "\n";
      failed->openmetrics = "# EOF\n"; // OpenMetrics has no free comments
      fresh = std::move(failed);
    }
    ::malloc_trim(0); // give the sample's memory back to the system between scrapes
    lock.lock();
    last_ = std::move(fresh);
    last_at_ = std::chrono::steady_clock::now();
    running_ = false;
    ++generation_;
    done_.notify_all();
  }
}

std::uint64_t Scraper::samples_taken() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

std::shared_ptr<const Scrape> Scraper::take() {
  const auto start = std::chrono::steady_clock::now();
  auto taken = sampler_.take({});
  auto sample = std::make_shared<core::Sample>();
  if (taken) {
    *sample = std::move(*taken);
  } else {
    // The sockets could not be listed: an empty model whose collector says why.
    core::CollectorStatus failed{.name = "sockets", .source = "sock_diag", .success = false};
    failed.duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    failed.error = taken.error();
    sample->collectors.push_back(std::move(failed));
  }
  auto model = analyze::build_host_model(std::move(sample));

  auto info = options_.info;
  {
    std::lock_guard lock(mutex_);
    info.samples = generation_ + 1; // this one (only this thread takes samples now)
  }
  auto out = std::make_shared<Scrape>();
  std::ostringstream text, om;
  render::render_prometheus(text, model, info, options_.limits, render::ExpositionFormat::Text);
  render::render_prometheus(om, model, info, options_.limits,
                            render::ExpositionFormat::OpenMetrics);
  out->text = std::move(text).str();
  out->openmetrics = std::move(om).str();
  out->sample_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

} // namespace sockdoctor::serve
