// The status page `serve` answers at "/": its numbers, its escaping of process names and titles,
// its inline charts from history, and that it is self-contained (no scripts, no external assets).
#include <gtest/gtest.h>

#include <sstream>

#include "history_scene.hpp"
#include "render/status_page.hpp"
#include "store/history_trends.hpp"

namespace sockdoctor {
namespace {

std::string sample_part(const analyze::HostModel& m) {
  std::ostringstream out;
  render::render_status_sample(out, {}, m);
  return out.str();
}

std::string
page(const std::string& sample_html, const store::HistoryTrends* t, std::string note = "") {
  render::StatusPageFacts f;
  f.version = "0.1.0";
  f.scope = {"network namespace <blue>"};
  f.missing = {"owners of other users' sockets (CAP_SYS_PTRACE)"};
  f.now = 1.8e9;
  f.sampled_at = 1.8e9 - 1;
  f.history_window = "6h";
  f.history_note = std::move(note);
  std::ostringstream out;
  render::render_status_page(out, f, sample_html, t);
  return out.str();
}

TEST(StatusPage, ShowsCountsHoldersAndFindings) {
  const auto m = testing::model(37);
  const auto html = page(sample_part(m), nullptr, "serve records no history");
  EXPECT_NE(html.find("<td>CLOSE-WAIT</td><td class=\"n\">39</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<td class=\"holder\">leaker</td><td class=\"n\">37</td>"),
            std::string::npos);
  EXPECT_NE(html.find("pid 100 (leaker) holds CLOSE_WAIT sockets"), std::string::npos);
  EXPECT_NE(html.find("<meta http-equiv=\"refresh\" content=\"30\">"), std::string::npos);
  EXPECT_NE(html.find("href=\"/metrics\""), std::string::npos);
  EXPECT_NE(html.find("network namespace &lt;blue&gt;"), std::string::npos);
  EXPECT_NE(html.find("CAP_SYS_PTRACE"), std::string::npos);
  EXPECT_NE(html.find("serve records no history"), std::string::npos);
}

TEST(StatusPage, EscapesProcessNamesAndTitles) {
  auto m = testing::model(3);
  m.holders[0].comm = "<script>x</script>\x1b[2J";
  m.diagnosis.findings[0].title = "\"quoted\" & <b>bold</b>";
  const auto html = page(sample_part(m), nullptr);
  EXPECT_EQ(html.find("<script"), std::string::npos) << html;
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_EQ(html.find('\x1b'), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;x&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;"), std::string::npos);
}

TEST(StatusPage, InlinesHistoryChartsWithoutExternalAssets) {
  store::HistoryTrends t;
  t.times = {1.8e9 - 120, 1.8e9 - 60, 1.8e9};
  t.close_wait_total = {0, 5, 10};
  store::HolderTrend h;
  h.name = "leaker";
  h.close_wait = 10;
  h.peak_close_wait = 10;
  h.close_wait_series = {0, 5, 10};
  t.holders.push_back(h);
  const auto html = page("", &t);
  EXPECT_NE(html.find("No sample yet"), std::string::npos);
  EXPECT_EQ(html.find("<?xml"), std::string::npos) << "no XML declaration inside HTML";
  std::size_t svgs = 0;
  for (auto at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1))
    ++svgs;
  EXPECT_EQ(svgs, 2u) << "the host's chart and the holder's";
  for (const char* external : {"<script", "src=", "<link", "@import", "url("})
    EXPECT_EQ(html.find(external), std::string::npos) << external;
}

} // namespace
} // namespace sockdoctor
