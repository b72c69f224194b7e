// Scrape coalescing on a replayed sock_diag dump: concurrent scrapes share one sample, a sample
// younger than min_interval is served again, and a failed dump still gives metrics saying so.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "serve/scraper.hpp"

namespace sockdoctor::serve {
namespace {

ScraperOptions replay_options(std::chrono::milliseconds min_interval) {
  ScraperOptions o;
  o.sampler.replay_file = std::string(SOCKDOCTOR_FIXTURES) + "/netlink/all_states.bin";
  o.sampler.root.proc = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/linux-6.18";
  o.sampler.owner_backend = collect::OwnerBackend::Proc;
  o.sampler.register_pin_root = "";
  o.min_interval = min_interval;
  o.info.version = "test";
  return o;
}

TEST(Scraper, ConcurrentScrapesShareOneSample) {
  Scraper s(replay_options(std::chrono::seconds(60)));
  std::vector<std::shared_ptr<const Scrape>> got(16);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] { got[i] = s.get(); });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(s.samples_taken(), 1u);
  for (const auto& g : got)
    EXPECT_EQ(g.get(), got[0].get());
  EXPECT_NE(got[0]->text.find("sockdoctor_exporter_samples_total 1\n"), std::string::npos);
  EXPECT_NE(got[0]->openmetrics.find("# EOF\n"), std::string::npos);
}

TEST(Scraper, ZeroMinIntervalTakesNewSamplesOneAtATime) {
  Scraper s(replay_options(std::chrono::milliseconds(0)));
  const auto a = s.get();
  const auto b = s.get();
  EXPECT_NE(a.get(), b.get());
  EXPECT_EQ(s.samples_taken(), 2u);
  EXPECT_NE(b->text.find("sockdoctor_exporter_samples_total 2\n"), std::string::npos);
}

TEST(Scraper, AFailedDumpIsAMetricNotAnError) {
  auto o = replay_options(std::chrono::milliseconds(0));
  o.sampler.replay_file = "/nonexistent/dump.bin";
  Scraper s(o);
  const auto r = s.get();
  EXPECT_NE(r->text.find("sockdoctor_collector_success{collector=\"sockets\"} 0\n"),
            std::string::npos)
      << r->text;
}

} // namespace
} // namespace sockdoctor::serve
