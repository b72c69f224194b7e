// The status page at "/": composes the last coalesced sample's part with the history charts of
// the last hours (read from the database serve records), and caches the page for a few seconds.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "serve/scraper.hpp"

namespace sockdoctor::serve {

struct StatusOptions {
  std::string version;
  std::vector<std::string> scope;   // what it watches
  std::vector<std::string> missing; // what it cannot see
  double window_s = 6 * 3600.0;     // the charts' span: bounds the history read
  int refresh_s = 30;
  std::chrono::milliseconds cache{5000}; // a page younger than this is served again
};

class StatusPage {
public:
  StatusPage(Scraper& scraper, StatusOptions options);
  std::string html(); // never throws for lack of history: the page says why it has none

private:
  std::string render(const Scrape& scrape);

  Scraper& scraper_;
  StatusOptions options_;
  std::mutex mutex_;
  std::string page_;
  std::shared_ptr<const Scrape> page_of_; // the scrape page_ shows
  std::chrono::steady_clock::time_point page_at_{};
};

} // namespace sockdoctor::serve
