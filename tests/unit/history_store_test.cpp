// The history database: what the writer records reads back the same; schema version and
// identity are checked; retention deletes old intervals with their rows; errors are values.
#include <gtest/gtest.h>

#include <fstream>

#include "history_scene.hpp"
#include "store/history_reader.hpp"
#include "store/history_writer.hpp"

namespace sockdoctor::store {
namespace {

using sockdoctor::testing::model;
using sockdoctor::testing::ScratchDir;
constexpr double kT0 = 1'800'000'000.0;

std::chrono::system_clock::time_point at(double t) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(t)));
}

HistoryWriter writer(const std::string& path, WriterOptions o = {}) {
  auto w = HistoryWriter::open(path, std::move(o));
  EXPECT_TRUE(w) << w.error().message;
  return std::move(*w);
}

std::int64_t scalar(const std::string& path, const char* sql) {
  auto db = Database::open(path, Database::Mode::ReadOnly, 1000);
  EXPECT_TRUE(db) << db.error().message;
  auto v = db->query_int(sql);
  EXPECT_TRUE(v) << v.error().message;
  return v.value_or(-1);
}

TEST(HistoryStore, RecordsReadBackTheSame) {
  ScratchDir dir;
  const auto path = dir.file("h.db");
  {
    auto w = writer(path, {.interval_s = 5, .pid = 4242});
    ASSERT_TRUE(w.note_start(kT0 - 1));
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(w.record(model(static_cast<std::uint64_t>(i) * 4), at(kT0 + i * 5.0)));
  }
  auto h = read_history(path, {});
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->runs.size(), 1u);
  EXPECT_EQ(h->runs[0].pid, 4242);
  EXPECT_DOUBLE_EQ(h->runs[0].interval_s, 5);
  EXPECT_EQ(h->runs[0].version, "0.1.0");
  ASSERT_EQ(h->intervals.size(), 3u);
  EXPECT_EQ(h->intervals_in_database, 3u);
  EXPECT_DOUBLE_EQ(*h->first_recorded, kT0);
  EXPECT_DOUBLE_EQ(*h->last_recorded, kT0 + 10);
  const auto& last = h->intervals[2];
  EXPECT_NEAR(last.time, kT0 + 10, 1e-6);
  EXPECT_EQ(last.states[static_cast<std::size_t>(core::TcpState::CloseWait)], 10u);
  EXPECT_EQ(last.states[static_cast<std::size_t>(core::TcpState::Established)], 40u);
  EXPECT_EQ(last.total, 51u);
  ASSERT_EQ(last.holders.size(), 3u);
  EXPECT_EQ(last.holders[0].pid, 100);
  EXPECT_EQ(last.holders[0].name, "leaker");
  EXPECT_EQ(last.holders[0].close_wait, 8u);
  EXPECT_EQ(last.holders[0].unit, "leaker.service");
  EXPECT_DOUBLE_EQ(*last.holders[0].oldest_s, 38.0);
  EXPECT_EQ(last.holders[2].pid, analyze::kNoOwner);
  EXPECT_EQ(last.holders[2].fin_wait2, 1u);
  ASSERT_EQ(last.budgets.size(), 1u);
  EXPECT_EQ(last.budgets[0].destination, "127.0.0.1:5432");
  EXPECT_EQ(last.budgets[0].time_wait, 7u);
  EXPECT_EQ(last.budgets[0].usable, 28232);
  ASSERT_EQ(last.findings.size(), 1u);
  EXPECT_EQ(last.findings[0].rule, "close_wait_leak");
  EXPECT_EQ(last.findings[0].severity, analyze::Severity::Warning);
  EXPECT_EQ(last.findings[0].pid, 100);
  EXPECT_EQ(h->intervals[0].holders.size(), 2u) << "no leaker row at 0 CLOSE_WAIT";
}

TEST(HistoryStore, SchemaVersionIdentityAndWal) {
  ScratchDir dir;
  const auto path = dir.file("sub/h.db"); // the parent directory is created
  { auto w = writer(path); }
  EXPECT_EQ(scalar(path, "PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(scalar(path, "PRAGMA application_id"), kApplicationId);
  auto db = Database::open(path, Database::Mode::ReadOnly, 1000);
  ASSERT_TRUE(db);
  auto mode = db->prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode);
  ASSERT_TRUE(mode->step().value_or(false));
  EXPECT_EQ(mode->column_text(0), "wal");
}

TEST(HistoryStore, RefusesANewerSchema) {
  ScratchDir dir;
  const auto path = dir.file("h.db");
  {
    auto w = writer(path);
    ASSERT_TRUE(w.record(model(1), at(kT0)));
  }
  {
    auto db = Database::open(path, Database::Mode::ReadWriteCreate, 1000);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA user_version=2"));
  }
  auto h = read_history(path, {});
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, core::ErrorCode::Unavailable);
  EXPECT_NE(h.error().message.find("schema version 2, newer than this sockdoctor reads (up to 1)"),
            std::string::npos)
      << h.error().message;
  auto w = HistoryWriter::open(path);
  ASSERT_FALSE(w) << "the writer must not write into a newer schema either";
  EXPECT_EQ(w.error().code, core::ErrorCode::Unavailable);
}

TEST(HistoryStore, RefusesFilesThatAreNotOurs) {
  ScratchDir dir;
  const auto text = dir.file("notes.txt");
  std::ofstream(text) << "this is not a database, but long enough to have a header page\n"
                      << std::string(200, 'x');
  auto h = read_history(text, {});
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, core::ErrorCode::Malformed);
  EXPECT_EQ(h.error().message, text + ": not a sockdoctor history database (not a SQLite file)");
  EXPECT_FALSE(HistoryWriter::open(text)) << "nor written into";

  const auto other = dir.file("other.db");
  {
    auto db = Database::open(other, Database::Mode::ReadWriteCreate, 1000);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("CREATE TABLE t(x)"));
  }
  h = read_history(other, {});
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, core::ErrorCode::Malformed);
  EXPECT_NE(h.error().message.find("not a sockdoctor history database (a SQLite database with "
                                   "application_id 0x0, not 0x53444849)"),
            std::string::npos)
      << h.error().message;
  auto w = HistoryWriter::open(other);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, core::ErrorCode::Malformed);

  h = read_history(dir.file("missing.db"), {});
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, core::ErrorCode::NotFound);
  EXPECT_EQ(h.error().message, dir.file("missing.db") + ": No such file or directory");
}

TEST(HistoryStore, EmptyFilesReadAsNoHistoryYet) {
  ScratchDir dir;
  const auto zero = dir.file("zero.db");
  std::ofstream{zero}; // what a writer leaves for an instant after creating the file
  auto h = read_history(zero, {});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_TRUE(h->intervals.empty());
  EXPECT_EQ(h->intervals_in_database, 0u);

  const auto fresh = dir.file("fresh.db");
  { auto w = writer(fresh); }
  h = read_history(fresh, {});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_TRUE(h->intervals.empty());
  EXPECT_TRUE(h->runs.empty());
  EXPECT_FALSE(h->last_recorded);
}

TEST(HistoryStore, WindowSelectsIntervalsByTime) {
  ScratchDir dir;
  const auto path = dir.file("h.db");
  {
    auto w = writer(path);
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(w.record(model(static_cast<std::uint64_t>(i)), at(kT0 + i * 10.0)));
  }
  auto h = read_history(path, {.since = kT0 + 35, .until = kT0 + 70});
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->intervals.size(), 4u); // 40, 50, 60, 70
  EXPECT_NEAR(h->intervals.front().time, kT0 + 40, 1e-6);
  EXPECT_EQ(h->intervals.front().holders[0].close_wait, 4u);
  EXPECT_EQ(h->intervals_in_database, 10u);
}

TEST(HistoryStore, DetailsOfTheLastIntervalOnlyWhenAsked) {
  ScratchDir dir;
  const auto path = dir.file("h.db");
  {
    auto w = writer(path);
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(w.record(model(static_cast<std::uint64_t>(i) + 1), at(kT0 + i * 10.0)));
  }
  auto h = read_history(path, {.until = kT0 + 30, .every_detail = false});
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->intervals.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(h->intervals[i].budgets.empty());
    EXPECT_TRUE(h->intervals[i].findings.empty());
    EXPECT_EQ(h->intervals[i].holders.size(), 3u) << "holders of every interval";
  }
  ASSERT_EQ(h->intervals[3].findings.size(), 1u);
  EXPECT_EQ(h->intervals[3].findings[0].count, 4u);
  EXPECT_EQ(h->intervals[3].budgets.size(), 1u);
}

TEST(HistoryStore, RetentionDeletesOldIntervalsAndTheirRows) {
  ScratchDir dir;
  const auto path = dir.file("h.db");
  {
    auto w = writer(path, {.retention_s = 100, .prune_every_s = 0});
    for (int i = 0; i < 30; ++i) // 290 s of intervals, 10 s apart
      ASSERT_TRUE(w.record(model(3), at(kT0 + i * 10.0)));
  }
  // The last record at kT0+290 pruned everything before kT0+190.
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM intervals"), 11);
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM holders"), 33);
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM states"), 33); // 3 states are not 0
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM budgets"), 11);
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM findings"), 11);
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM holders WHERE interval NOT IN "
                         "(SELECT id FROM intervals)"),
            0);
  EXPECT_EQ(scalar(path, "SELECT min(t) FROM intervals"), static_cast<std::int64_t>(kT0 + 190));
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM runs"), 1) << "the current run stays";
}

TEST(HistoryStore, RunsAreKeptPerStartAndOldEmptyRunsPruned) {
  ScratchDir dir;
  const auto path = dir.file("h.db");
  for (int run = 0; run < 3; ++run) {
    auto w = writer(path, {.retention_s = 3000, .prune_every_s = 0});
    const double t = kT0 + run * 2000.0;
    ASSERT_TRUE(w.note_start(t));
    ASSERT_TRUE(w.record(model(1), at(t + 1)));
  }
  // The third run's record pruned the first run's interval (older than 3000 s) and the run.
  auto h = read_history(path, {});
  ASSERT_TRUE(h);
  ASSERT_EQ(h->runs.size(), 2u);
  EXPECT_NEAR(h->runs[0].started, kT0 + 2000, 1e-6);
  EXPECT_EQ(h->intervals.size(), 2u);
}

TEST(HistoryStore, LimitsBoundTheRowsOfOneInterval) {
  ScratchDir dir;
  const auto path = dir.file("h.db");
  auto m = model(5);
  for (int i = 0; i < 100; ++i)
    m.holders.push_back(sockdoctor::testing::holder(1000 + i, "many", 1));
  {
    auto w = writer(path, {.limits = {.holders = 10}});
    ASSERT_TRUE(w.record(m, at(kT0)));
  }
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM holders"), 10);
}

} // namespace
} // namespace sockdoctor::store
