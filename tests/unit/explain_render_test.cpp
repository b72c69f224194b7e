// Explain renderers: 80-column text, colour only on request, JSON schema, golden outputs.
// Regenerate goldens with SOCKDOCTOR_UPDATE_GOLDEN=1 after an intended wording change.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "analyze/knowledge.hpp"
#include "collect/kernel_settings.hpp"
#include "render/explain_json.hpp"
#include "render/explain_text.hpp"
#include "render/text.hpp"

namespace an = sockdoctor::analyze;
namespace rd = sockdoctor::render;
using sockdoctor::core::KernelSettings;

namespace {

KernelSettings fixture(const std::string& name) {
  sockdoctor::core::FsRoot r;
  r.proc = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/" + name;
  auto k = sockdoctor::collect::read_kernel_settings(r);
  EXPECT_TRUE(k) << name;
  return k ? *k : KernelSettings{};
}

std::string text_of(const KernelSettings& k, const std::string& topic, bool color = false) {
  std::ostringstream out;
  const rd::ExplainTextOptions opt{color, 80};
  if (topic == "all")
    rd::render_explain_overview(out, k, an::build_all_topics(k), opt);
  else
    rd::render_explain_topics(out, k, {*an::build_topic(topic, k)}, opt);
  return out.str();
}

std::string json_of(const KernelSettings& k, const std::vector<an::Topic>& topics) {
  std::ostringstream out;
  rd::render_explain_json(out, k, topics);
  return out.str();
}

void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/golden/" + name;
  const char* update = std::getenv("SOCKDOCTOR_UPDATE_GOLDEN");
  if (update != nullptr && update[0] == '1') {
    std::ofstream(path) << actual;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden " << path << " (SOCKDOCTOR_UPDATE_GOLDEN=1 writes it)";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "golden " << name << " differs";
}

} // namespace

TEST(WrapText, WrapsAtWidthWithIndent) {
  EXPECT_EQ(rd::wrap_text("one two three", 80, 2, 4), "  one two three");
  EXPECT_EQ(rd::wrap_text("aaaa bbbb cccc", 14, 0, 2), "aaaa bbbb cccc");
  EXPECT_EQ(rd::wrap_text("aaaa bbbb cccc dddd", 14, 0, 2), "aaaa bbbb cccc\n  dddd");
  EXPECT_EQ(rd::wrap_text("  spaced   out  ", 80, 0, 0), "spaced out");
  EXPECT_EQ(rd::wrap_text("", 80, 3, 3), "   ");
  // A word longer than the line is split rather than overflowing.
  const std::string long_word(30, 'x');
  const auto wrapped = rd::wrap_text(long_word, 12, 0, 2);
  std::istringstream lines(wrapped);
  std::string line;
  while (std::getline(lines, line))
    EXPECT_LE(line.size(), 12u);
}

TEST(ExplainText, EveryTopicFitsEightyColumnsWithoutColour) {
  for (const char* kname : {"linux-6.18", "linux-4.9", "linux-6.18-tuned", "linux-malformed"}) {
    const auto k = fixture(kname);
    for (const auto id : an::topic_ids()) {
      const auto text = text_of(k, std::string(id));
      SCOPED_TRACE(std::string(kname) + " " + std::string(id));
      EXPECT_EQ(text.find('\x1b'), std::string::npos);
      EXPECT_NE(text.find("Myths corrected"), std::string::npos);
      std::istringstream lines(text);
      std::string line;
      while (std::getline(lines, line))
        EXPECT_LE(rd::display_width(line), 80u) << line;
    }
    const auto overview = text_of(k, "all");
    for (const auto& t : an::build_all_topics(k))
      EXPECT_NE(overview.find(t.title), std::string::npos) << t.title;
  }
}

TEST(ExplainText, OverviewNamesEverySeedMythWithItsCorrection) {
  const auto k = fixture("linux-6.18");
  const auto overview = text_of(k, "all");
  // Words are re-wrapped: compare with whitespace collapsed.
  const auto flat = [](const std::string& text) {
    std::string out;
    for (char c : text) {
      if (c == '\n' || c == ' ') {
        if (!out.empty() && out.back() != ' ') out += ' ';
      } else {
        out += c;
      }
    }
    return out;
  };
  const std::string text = flat(overview);
  int seeds = 0;
  for (const auto& t : an::build_all_topics(k))
    for (const auto& m : t.myths) {
      if (!m.seed) continue;
      ++seeds;
      EXPECT_NE(text.find("Myth: " + flat(m.myth)), std::string::npos) << m.myth;
      EXPECT_NE(text.find("Truth: " + flat(m.correction)), std::string::npos) << m.correction;
    }
  EXPECT_EQ(seeds, 12);
  // Myths outside the seed articles are still pointed to, by count.
  EXPECT_NE(overview.find("more myth"), std::string::npos);
  EXPECT_EQ(overview.find(" myths corrected: sockdoctor explain close-wait"), std::string::npos);
}

TEST(ExplainText, ColourOnlyWhenAsked) {
  const auto k = fixture("linux-6.18");
  EXPECT_NE(text_of(k, "time-wait", true).find("\x1b[1m"), std::string::npos);
  EXPECT_EQ(text_of(k, "time-wait", false).find("\x1b"), std::string::npos);
}

TEST(ExplainText, HostileReleaseStringIsEscaped) {
  KernelSettings k;
  k.kernel_release = "6.1\x1b]0;owned\x07";
  const auto text = text_of(k, "ports");
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("\\x1b"), std::string::npos);
}

TEST(ExplainJson, SchemaAndValueTypes) {
  const auto k = fixture("linux-4.9");
  const auto doc = nlohmann::json::parse(json_of(k, an::build_all_topics(k)));
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_EQ(doc["kernel"]["major"], 4);
  ASSERT_EQ(doc["topics"].size(), an::topic_ids().size());
  for (const auto& t : doc["topics"]) {
    for (const char* key : {"id", "title", "settings", "figures", "facts", "myths"})
      EXPECT_TRUE(t.contains(key)) << key;
    for (const auto& s : t["settings"]) {
      EXPECT_TRUE(s["name"].is_string());
      EXPECT_TRUE(s["value"].is_number() || s["value"].is_string() || s["value"].is_null());
      EXPECT_TRUE(s["meaning"].is_string());
    }
    for (const auto& f : t["figures"]) {
      EXPECT_TRUE(f["value"].is_number() || f["value"].is_null());
      for (const char* key : {"name", "unit", "basis"})
        EXPECT_TRUE(f[key].is_string()) << key;
    }
    for (const auto& f : t["facts"])
      EXPECT_FALSE(f["source"].get<std::string>().empty());
    for (const auto& m : t["myths"])
      for (const char* key : {"myth", "truth", "source"})
        EXPECT_TRUE(m[key].is_string());
  }
  // tcp_tw_reuse_delay is absent on 4.9: null, not 0.
  bool saw_delay = false;
  for (const auto& s : doc["topics"][1]["settings"]) {
    if (s["name"] == "net.ipv4.tcp_tw_reuse_delay") {
      saw_delay = true;
      EXPECT_TRUE(s["value"].is_null());
    }
    if (s["name"] == "net.ipv4.tcp_tw_reuse") {
      EXPECT_EQ(s["value"], 0);
    }
  }
  EXPECT_TRUE(saw_delay);
}

TEST(ExplainJson, InvalidUtf8DoesNotThrow) {
  KernelSettings k;
  k.kernel_release = "6.1\xff\xfe";
  EXPECT_NO_THROW(nlohmann::json::parse(json_of(k, {*an::build_topic("ports", k)})));
}

TEST(ExplainGolden, TimeWaitOnOldKernel) {
  expect_golden("time-wait.linux-4.9.txt", text_of(fixture("linux-4.9"), "time-wait"));
}

TEST(ExplainGolden, CloseWaitOnNewKernel) {
  expect_golden("close-wait.linux-6.18.txt", text_of(fixture("linux-6.18"), "close-wait"));
}

TEST(ExplainGolden, OverviewTuned) {
  expect_golden("all.linux-6.18-tuned.txt", text_of(fixture("linux-6.18-tuned"), "all"));
}

TEST(ExplainGolden, PortsJsonTuned) {
  const auto k = fixture("linux-6.18-tuned");
  expect_golden("ports.linux-6.18-tuned.json", json_of(k, {*an::build_topic("ports", k)}));
}
