// `sockdoctor history` output: the JSON shape, the text table and chart (escaped names, within
// the terminal width), the empty-history messages, and a well-formed self-contained SVG.
#include "render/history.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "render/text.hpp"
#include "store/history_trends.hpp"

namespace sockdoctor::render {
namespace {

constexpr double kT0 = 1'800'000'000.0; // 2027-01-15 08:00:00 UTC

store::History leak(const std::string& name = "leaker") {
  store::History h;
  h.path = "/var/lib/sockdoctor/history.db";
  h.window_start = kT0 - 60;
  h.window_end = kT0 + 1000;
  h.runs = {{.id = 1, .started = kT0 - 1, .pid = 77, .interval_s = 10, .version = "0.1.0"}};
  for (int i = 0; i < 30; ++i) {
    store::IntervalRecord r;
    r.time = kT0 + 10.0 * i;
    const auto cw = static_cast<std::uint64_t>(i < 10 ? 0 : 3 * (i - 9));
    r.states[static_cast<std::size_t>(core::TcpState::CloseWait)] = cw;
    r.states[static_cast<std::size_t>(core::TcpState::Established)] = 5;
    if (cw > 0) r.holders.push_back({.pid = 4242, .name = name, .close_wait = cw, .oldest_s = 9});
    r.findings.push_back({.rule = "close_wait_leak",
                          .severity = analyze::Severity::Warning,
                          .title = "pid 4242 (" + name + ") holds CLOSE_WAIT sockets",
                          .pid = 4242,
                          .count = cw});
    h.intervals.push_back(std::move(r));
  }
  h.intervals_in_database = 30;
  h.first_recorded = kT0;
  h.last_recorded = kT0 + 290;
  return h;
}

std::string text(const store::History& h, HistoryRenderOptions o = {}) {
  std::ostringstream out;
  if (o.now == 0) o.now = kT0 + 300;
  render_history_text(out, h, store::history_trends(h, {.holder = o.holder}), o);
  return out.str();
}

TEST(HistoryRender, JsonShape) {
  const auto h = leak();
  std::ostringstream out;
  render_history_json(out, h, store::history_trends(h), {.now = kT0 + 300});
  const auto doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_EQ(doc["database"], h.path);
  EXPECT_EQ(doc["history"], true);
  EXPECT_TRUE(doc["holder_filter"].is_null());
  EXPECT_EQ(doc["window"]["intervals"], 30);
  EXPECT_DOUBLE_EQ(doc["window"]["start"].get<double>(), kT0);
  EXPECT_DOUBLE_EQ(doc["window"]["interval_s"].get<double>(), 10);
  EXPECT_EQ(doc["recorded"]["intervals"], 30);
  EXPECT_EQ(doc["recorder"]["restarts"], 0);
  EXPECT_EQ(doc["recorder"]["runs"][0]["pid"], 77);
  EXPECT_TRUE(doc["recorder"]["gaps"].empty());
  EXPECT_EQ(doc["states"]["close_wait"], 60);
  ASSERT_EQ(doc["holders"].size(), 1u);
  const auto& l = doc["holders"][0];
  EXPECT_EQ(l["name"], "leaker");
  EXPECT_EQ(l["process"], true);
  EXPECT_EQ(l["pids"], nlohmann::json::array({4242}));
  EXPECT_EQ(l["close_wait"], 60);
  EXPECT_DOUBLE_EQ(l["onset"].get<double>(), kT0 + 100);
  EXPECT_EQ(l["onset_at_window_start"], false);
  EXPECT_NEAR(l["growth_per_hour"].get<double>(), 3.0 / 10 * 3600, 1e-6);
  EXPECT_EQ(l["rising"], true);
  EXPECT_TRUE(l["restarts"].empty());
  EXPECT_FALSE(l.contains("close_wait_series")) << "only with --holder";
  EXPECT_EQ(doc["findings"][0]["id"], "close_wait_leak");
  EXPECT_EQ(doc["findings"][0]["severity"], "warning");
  EXPECT_EQ(doc["series"]["time"].size(), 30u);
  EXPECT_EQ(doc["series"]["close_wait"].back(), 60);

  std::ostringstream filtered;
  render_history_json(filtered, h, store::history_trends(h, {.holder = "leaker"}),
                      {.holder = "leaker", .now = kT0 + 300});
  const auto f = nlohmann::json::parse(filtered.str());
  EXPECT_EQ(f["holder_filter"], "leaker");
  EXPECT_EQ(f["holders"][0]["close_wait_series"].size(), 30u);
}

TEST(HistoryRender, TextNamesTheLeakItsOnsetAndGrowth) {
  const auto out = text(leak());
  EXPECT_NE(out.find("History in /var/lib/sockdoctor/history.db: 2027-01-15 08:00:00 UTC to "
                     "08:04:50 (4m50s, 30 intervals of 10s), last 10s ago"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("recorder  started 07:59:59 (pid 77)"), std::string::npos) << out;
  EXPECT_NE(out.find("leaker           4242                 60     60      0     +1080  "
                     "08:01:40 (3m20s ago)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("WARNING  pid 4242 (leaker) holds CLOSE_WAIT sockets"), std::string::npos);
  EXPECT_NE(out.find("CLOSE_WAIT sockets on the host (UTC)"), std::string::npos);
}

TEST(HistoryRender, TextNamesGapsInTheRecording) {
  auto h = leak();
  h.intervals.erase(h.intervals.begin() + 3, h.intervals.begin() + 8); // 08:00:20 .. 08:01:20
  const auto out = text(h);
  EXPECT_NE(out.find("  gap       nothing recorded from 08:00:20 to 08:01:20 (1m00s)\n"),
            std::string::npos)
      << out;
}

TEST(HistoryRender, TextEscapesNamesAndFitsTheWidth) {
  for (int width : {40, 80, 200}) {
    const auto out = text(leak("evil\x1b]0;owned\x07\u202e"), {.width = width});
    EXPECT_EQ(out.find('\x1b'), std::string::npos);
    EXPECT_EQ(out.find("\u202e"), std::string::npos);
    EXPECT_NE(out.find("evil\\x1b]0;own"), std::string::npos) << out;
    // The chart (everything from its title on) fits the terminal.
    std::istringstream lines(out.substr(out.find("CLOSE_WAIT sockets on the host")));
    for (std::string line; std::getline(lines, line);)
      EXPECT_LE(display_width(line), static_cast<std::size_t>(width)) << width << ": " << line;
  }
}

TEST(HistoryRender, ChartShowsTheRiseAndTheHolderFilterChartsTheHolder) {
  std::string chart;
  ChartSeries s{"t", {kT0, kT0 + 1, kT0 + 2, kT0 + 3}, {0, 0, 4, 8}};
  append_text_chart(chart, s, 40, 2);
  EXPECT_EQ(chart, "8 ┤   █\n"
                   "0 ┤  ██\n"
                   "  └────\n"
                   "   08:00:00\n");
  const auto h = leak();
  const auto series =
      chart_series(store::history_trends(h, {.holder = "leaker"}), {.holder = "leaker"});
  EXPECT_EQ(series.title, "CLOSE_WAIT sockets held by leaker");
  EXPECT_EQ(series.value.back(), 60);
  EXPECT_NE(text(h, {.holder = "nobody"}).find("No process named 'nobody' held"),
            std::string::npos);
}

TEST(HistoryRender, SaysWhenThereIsNoHistory) {
  store::History empty;
  empty.path = "/tmp/h.db";
  EXPECT_EQ(text(empty), "No history yet in /tmp/h.db: nothing has been recorded. `sockdoctor "
                         "serve` records an interval every --interval seconds.\n");
  auto old = leak();
  old.intervals.clear();
  old.window_start = kT0 + 3600;
  EXPECT_EQ(text(old, {.now = kT0 + 7200}),
            "No history in /var/lib/sockdoctor/history.db since 2027-01-15 09:00:00 UTC: the "
            "newest interval is from 2027-01-15 08:04:50 UTC (1h55m ago); widen --since.\n");
  std::ostringstream out;
  render_history_json(out, empty, store::history_trends(empty), {});
  const auto doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["history"], false);
  EXPECT_TRUE(doc["holders"].empty());
  EXPECT_TRUE(doc["recorded"]["last"].is_null());
}

TEST(HistoryRender, SvgIsSelfContainedAndEscaped) {
  ChartSeries s{
      "CLOSE_WAIT sockets held by <a&b> \"x\" \x1b[2J", {kT0, kT0 + 10, kT0 + 20}, {0, 5, 10}};
  std::ostringstream out;
  render_history_svg(out, s, "sub");
  const auto svg = out.str();
  EXPECT_EQ(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_NE(svg.find("held by &lt;a&amp;b&gt; &quot;x&quot; \\x1b[2J"), std::string::npos) << svg;
  EXPECT_EQ(svg.find('\x1b'), std::string::npos);
  EXPECT_NE(svg.find("points=\"60.0,280.0 420.0,165.0 780.0,50.0\""), std::string::npos) << svg;
  for (const char* external : {"href", "<script", "url(", "@import", "<image"})
    EXPECT_EQ(svg.find(external), std::string::npos) << external;
}

} // namespace
} // namespace sockdoctor::render
