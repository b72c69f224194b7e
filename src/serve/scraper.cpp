// Coalescing of scrapes onto one sampler.
#include "serve/scraper.hpp"

#include <algorithm>
#include <malloc.h>

#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include "analyze/host_model.hpp"
#include "render/escape.hpp"
#include "render/status_page.hpp"

namespace sockdoctor::serve {

core::Result<std::unique_ptr<Scraper>> Scraper::start(ScraperOptions options) {
  std::optional<store::HistoryWriter> writer;
  if (options.history) {
    const auto& h = *options.history;
    auto opened = store::HistoryWriter::open(h.path, h.writer);
    if (opened) {
      writer = std::move(*opened);
      if (options.err != nullptr)
        render::write_notice(
            *options.err, "sockdoctor serve: ",
            fmt::format("recording history every {}s into {}", h.writer.interval_s, h.path));
    } else if (h.required) {
      return tl::unexpected(opened.error());
    } else if (options.err != nullptr) {
      render::write_notice(*options.err, "sockdoctor serve: no history: ",
                           opened.error().message + " (--db PATH records elsewhere, --db off "
                                                    "says nothing)");
    }
  }
  return std::make_unique<Scraper>(std::move(options), std::move(writer));
}

Scraper::Scraper(ScraperOptions options, std::optional<store::HistoryWriter> writer)
    : options_(std::move(options)), sampler_(options_.sampler), writer_(std::move(writer)) {
  if (writer_) {
    history_path_ = writer_->path();
    history_period_ = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(options_.history->writer.interval_s));
    history_due_ = std::chrono::steady_clock::now(); // the first record at once
    history_slack_ = std::min<std::chrono::steady_clock::duration>(history_period_ / 4,
                                                                   std::chrono::seconds(15));
    if (auto r = writer_->note_start(std::chrono::system_clock::now()); !r)
      history_problem(r.error().message);
  }
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
// The history records ride on the same thread: a record is a sample like a scrape's (it never
// runs beside one) and the writer's connection is used from this thread only.
void Scraper::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto woken = [&] { return requested_ || stopping_; };
    if (writer_)
      wanted_.wait_until(lock, history_due_, woken);
    else
      wanted_.wait(lock, woken);
    if (stopping_) return;
    const auto now = std::chrono::steady_clock::now();
    // A scrape's sample taken shortly before a record is due is recorded instead of taking
    // another one a few seconds later: at a 15 s scrape interval this saves one sample in four.
    const bool record_due =
        writer_ && (now >= history_due_ || (requested_ && history_due_ - now <= history_slack_));
    if (!requested_ && !record_due) continue; // a spurious wake-up
    if (record_due) {
      history_due_ += history_period_;
      if (history_due_ <= now) history_due_ = now + history_period_; // slept through some
    }
    requested_ = false;
    running_ = true;
    lock.unlock();
    std::shared_ptr<const Scrape> fresh;
    try {
      fresh = take(record_due);
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

void Scraper::history_problem(const std::string& message) {
  if (history_failed_ || options_.err == nullptr) return;
  history_failed_ = true; // a full disk would say so every interval
  render::write_notice(*options_.err, "sockdoctor serve: history: ",
                       message + " (said once; recording goes on trying)");
}

std::shared_ptr<const Scrape> Scraper::take(bool record) {
  const auto start = std::chrono::steady_clock::now();
  // The interval's time is when its sockets were listed, not when the owner scan ended.
  const auto listed_at = std::chrono::system_clock::now();
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
  if (record && taken) {
    if (auto r = writer_->record(model, listed_at); !r) history_problem(r.error().message);
  }

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
  std::ostringstream status;
  render::render_status_sample(status, {}, model);
  out->status_html = std::move(status).str();
  out->sampled_at = store::unix_seconds(listed_at);
  out->text = std::move(text).str();
  out->openmetrics = std::move(om).str();
  out->sample_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

} // namespace sockdoctor::serve
