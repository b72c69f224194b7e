// `top --lines` text and NDJSON from the scripted scene.
#include "render/lines.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <ctime>
#include <regex>

#include "top_scene.hpp"

namespace sockdoctor::render {
namespace {

class LinesTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
  LineOptions opts;
};

TEST_F(LinesTest, IsoTimeHasMillisecondsAndOffset) {
  const auto t = testing::scene_epoch() + std::chrono::milliseconds(250);
  EXPECT_EQ(iso_time(t), "2026-01-02T03:04:05.250+00:00");
}

TEST_F(LinesTest, FirstLineHasCountsAndSaysFirstSample) {
  const auto line = format_top_line(testing::scene_view(1).model(), opts);
  EXPECT_EQ(line, "2026-01-02T03:04:05.000+00:00 total=22 listen=1 established=9 fin_wait2=1 "
                  "time_wait=3 close_wait=8 | changed: first sample | findings: 2 (worst: warning "
                  "close_wait_leak)\n");
}

TEST_F(LinesTest, LaterLinesSayWhatChangedAndNameTheLeak) {
  const auto line = format_top_line(testing::scene_view(6).model(), opts);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  EXPECT_NE(line.find(" close_wait=18 "), std::string::npos) << line;
  EXPECT_NE(line.find("| changed: close_wait +2 (+6/-4)"), std::string::npos) << line;
  EXPECT_NE(line.find("| leak: pid 200 (sd-leaker) close_wait=13 120/min"), std::string::npos)
      << line;
  EXPECT_NE(line.find("| findings: "), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << "process names are escaped";
  EXPECT_TRUE(std::regex_search(
      line, std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d )")));
}

TEST_F(LinesTest, CounterCountsAreMarked) {
  auto m = testing::scene_view(2).model();
  for (auto& r : m.states)
    if (r.state == core::TcpState::Established) r.listed = false;
  EXPECT_NE(format_top_line(m, opts).find(" established=~"), std::string::npos);
}

TEST_F(LinesTest, JsonObjectPerIntervalWithTheDocumentedFields) {
  const auto text = format_top_json(testing::scene_view(6).model(), opts);
  ASSERT_EQ(text.back(), '\n');
  ASSERT_EQ(text.find('\n'), text.size() - 1) << "one line";
  const auto j = nlohmann::json::parse(text);
  for (const char* key :
       {"schema_version", "time",          "sample",       "interval_s",    "total",
        "states",         "listed_states", "changed",      "appeared",      "departed",
        "close_wait",     "holders",       "peers",        "time_wait",     "destinations",
        "findings",       "detail_age_s",  "owners_age_s", "owners_denied", "filter"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["sample"], 6);
  EXPECT_EQ(j["states"].size(), 10u) << "every state, zeros included";
  EXPECT_EQ(j["states"]["close_wait"], 18);
  EXPECT_EQ(j["states"]["syn_sent"], 0);
  EXPECT_EQ(j["changed"]["close_wait"], 2);
  const auto& h = j["holders"][0];
  EXPECT_EQ(h["pid"], 200);
  EXPECT_EQ(h["comm"], "sd-leaker");
  EXPECT_EQ(h["close_wait"], 13);
  EXPECT_EQ(h["trend"]["trend"], "leak");
  EXPECT_DOUBLE_EQ(h["trend"]["growth_per_min"].get<double>(), 120.0);
  EXPECT_EQ(h["age_basis"], "last_ack");
  EXPECT_EQ(j["time_wait"][0]["how"], "traced");
  EXPECT_EQ(j["time_wait"][0]["where"], "-> 10.0.0.7:80");
  EXPECT_EQ(j["destinations"][0]["destination"], "10.0.0.9:5432");
  EXPECT_EQ(j["findings"][0]["severity"], "warning");
  EXPECT_TRUE(j["filter"].is_null());
}

TEST_F(LinesTest, JsonKeepsRawNamesAsValidJson) {
  const auto j = nlohmann::json::parse(format_top_json(testing::scene_view(3).model(), opts));
  bool found = false;
  for (const auto& h : j["holders"])
    if (h["pid"] == 500) {
      found = true;
      EXPECT_EQ(h["comm"], "evil\x1b]0;pwned\x07\x1b[2J") << "JSON escapes, not terminal escapes";
    }
  EXPECT_TRUE(found);
}

TEST_F(LinesTest, FilterIsReported) {
  auto view = testing::scene_view(2);
  view.set_query({*analyze::parse_top_filter("port:5432"), analyze::SortKey::Count});
  const auto m = view.model();
  EXPECT_NE(format_top_line(m, opts).find("| filter: port 5432"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(format_top_json(m, opts))["filter"], "port 5432");
}

} // namespace
} // namespace sockdoctor::render
