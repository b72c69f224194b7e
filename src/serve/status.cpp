// Composition of the status page; the HTML itself is render/status_page.
#include "serve/status.hpp"

#include <fmt/format.h>

#include <sstream>

#include "core/duration.hpp"
#include "render/status_page.hpp"
#include "store/history_reader.hpp"
#include "store/history_trends.hpp"
#include "store/history_writer.hpp"

namespace sockdoctor::serve {

StatusPage::StatusPage(Scraper& scraper, StatusOptions options)
    : scraper_(scraper), options_(std::move(options)) {}

std::string StatusPage::html() {
  const auto scrape = scraper_.get(); // coalesced with the scrapes and the history records
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  // Many browsers on the page cost one history read per few seconds, not one each.
  if (page_of_ != scrape || now - page_at_ >= options_.cache) {
    page_ = render(*scrape);
    page_of_ = scrape;
    page_at_ = now;
  }
  return page_;
}

std::string StatusPage::render(const Scrape& scrape) {
  render::StatusPageFacts f;
  f.version = options_.version;
  f.scope = options_.scope;
  f.missing = options_.missing;
  f.now = store::unix_seconds(std::chrono::system_clock::now());
  f.sampled_at = scrape.sampled_at;
  f.refresh_s = options_.refresh_s;
  f.history_window = core::compact_duration(options_.window_s);
  std::optional<store::HistoryTrends> trends;
  if (scraper_.history_path().empty()) {
    f.history_note = "serve records no history (--db off, or its database could not be opened)";
  } else {
    auto h = store::read_history(scraper_.history_path(),
                                 {.since = f.now - options_.window_s, .every_detail = false});
    if (h)
      trends = store::history_trends(*h);
    else
      f.history_note = "history: " + h.error().message;
  }
  std::ostringstream out;
  render::render_status_page(out, f, scrape.status_html, trends ? &*trends : nullptr);
  return std::move(out).str();
}

} // namespace sockdoctor::serve
