// Coalescing of scrapes onto one sampler.
#include "serve/scraper.hpp"

#include <sstream>

#include "analyze/host_model.hpp"

namespace sockdoctor::serve {

Scraper::Scraper(ScraperOptions options)
    : options_(std::move(options)), sampler_(options_.sampler) {}

std::shared_ptr<const Scrape> Scraper::get() {
  std::unique_lock lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (last_ && now - last_at_ < options_.min_interval) return last_;
  if (running_) {
    // Share the sample in progress: it started before this request arrived, but waiting for it
    // costs less than one more dump, and a scrape never waits for more than one sample.
    const auto gen = generation_;
    done_.wait(lock, [&] { return generation_ != gen; });
    return last_;
  }
  running_ = true;
  lock.unlock();
  std::shared_ptr<const Scrape> fresh;
  try {
    fresh = take();
  } catch (...) {
    lock.lock();
    running_ = false;
    ++generation_;
    done_.notify_all();
    throw;
  }
  lock.lock();
  last_ = fresh;
  last_at_ = std::chrono::steady_clock::now();
  running_ = false;
  ++generation_;
  done_.notify_all();
  return last_;
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
