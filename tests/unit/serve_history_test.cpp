// serve's history recording on a replayed dump: records arrive on serve's own schedule without
// any scrape, note_start once; an unusable default database is one notice and no history, an
// unusable explicit one an error.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "history_scene.hpp"
#include "serve/scraper.hpp"
#include "store/history_reader.hpp"

namespace sockdoctor::serve {
namespace {

ScraperOptions replay_options() {
  ScraperOptions o;
  o.sampler.replay_file = std::string(SOCKDOCTOR_FIXTURES) + "/netlink/all_states.bin";
  o.sampler.root.proc = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/linux-6.18";
  o.sampler.owner_backend = collect::OwnerBackend::Proc;
  o.sampler.register_pin_root = "";
  o.info.version = "test";
  return o;
}

TEST(ServeHistory, RecordsOnItsOwnScheduleWithoutScrapes) {
  testing::ScratchDir dir;
  std::ostringstream err;
  auto o = replay_options();
  o.err = &err;
  o.history = HistoryRecording{.path = dir.file("h.db"), .required = true};
  o.history->writer.interval_s = 0.2;
  {
    auto s = Scraper::start(o);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->history_path(), dir.file("h.db"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  auto h = store::read_history(dir.file("h.db"), {});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_GE(h->intervals.size(), 4u) << "about one record per 0.2 s, none asked for";
  EXPECT_LE(h->intervals.size(), 9u);
  EXPECT_EQ(h->runs.size(), 1u);
  EXPECT_NE(err.str().find("recording history every 0.2s"), std::string::npos) << err.str();
}

// A scrape within min(interval / 4, 15 s) before a record is due is recorded: no second sample
// moments later. With a 4 s interval the slack is 1 s.
TEST(ServeHistory, ARecordRidesOnAScrapeTakenShortlyBeforeItIsDue) {
  testing::ScratchDir dir;
  auto o = replay_options();
  o.min_interval = std::chrono::seconds(0);
  o.history = HistoryRecording{.path = dir.file("h.db"), .required = true};
  o.history->writer.interval_s = 4;
  const auto start = std::chrono::steady_clock::now();
  {
    auto s = Scraper::start(o);
    ASSERT_TRUE(s) << s.error().message;
    // The first record at once; a scrape at 3.4 s, within 1 s of the next record at 4 s.
    std::this_thread::sleep_until(start + std::chrono::milliseconds(3400));
    (*s)->get();
    const auto after_scrape = (*s)->samples_taken();
    std::this_thread::sleep_until(start + std::chrono::milliseconds(5000));
    if (std::chrono::steady_clock::now() < start + std::chrono::milliseconds(7000)) {
      EXPECT_EQ((*s)->samples_taken(), after_scrape) << "the record due at 4 s sampled again";
    }
    EXPECT_EQ(after_scrape, 2u) << "the record at start, then the scrape";
  }
  auto h = store::read_history(dir.file("h.db"), {});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->intervals.size(), 2u) << "the first record and the one that rode on the scrape";
}

TEST(ServeHistory, AnUnusableDefaultIsANoticeAnExplicitOneAnError) {
  testing::ScratchDir dir;
  std::ostringstream err;
  auto o = replay_options();
  o.err = &err;
  o.history = HistoryRecording{.path = dir.file("missing/dir/h.db"), .required = false};
  auto s = Scraper::start(o);
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->history_path(), "");
  EXPECT_NE(err.str().find("no history: "), std::string::npos) << err.str();
  EXPECT_FALSE((*s)->get()->text.empty()) << "and it still serves metrics";
  o.history->required = true;
  EXPECT_FALSE(Scraper::start(o));
}

} // namespace
} // namespace sockdoctor::serve
