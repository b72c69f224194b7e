// Every renderer's exact bytes on hostile inputs: check, ls, top --lines and explain, text and
// JSON. These goldens pin the output while the renderers share one text toolkit and one JSON
// writer. UPDATE_GOLDEN=1 rewrites them; review the diff, it is the list of output changes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/age.hpp"
#include "analyze/diagnose.hpp"
#include "analyze/knowledge.hpp"
#include "collect/kernel_settings.hpp"
#include "render/explain_json.hpp"
#include "render/findings_json.hpp"
#include "render/findings_text.hpp"
#include "render/lines.hpp"
#include "render/socket_list.hpp"
#include "top_scene.hpp"

namespace sockdoctor {
namespace {

using core::TcpState;
using test_support::SnapshotBuilder;

// Names a process can give itself: controls, C1 CSI, invalid UTF-8, bidi overrides, wide glyphs.
const char* const kHostileNames[] = {
    "evil\x1b]0;pwned\x07\n\ttab",
    "csi\xc2\x9b"
    "31m",
    "bad\xff\xfe",
    "ab\u202etxt.exe",
    "zero\u200bwidth\u2066iso\u2069",
    "\u65e5\u672c\u8a9e\u30b5\u30fc\u30d0\u30fc", // 日本語サーバー
    "back\\slash \"quoted\"",
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void check_golden(const std::string& name, const std::string& got) {
  const std::string path = std::string(SOCKDOCTOR_FIXTURES) + "/golden/render/" + name;
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << got;
    GTEST_SKIP() << "rewrote " << path;
  }
  const std::string want = read_file(path);
  ASSERT_FALSE(want.empty()) << path << " is missing: run with UPDATE_GOLDEN=1 and review it";
  EXPECT_EQ(got, want) << "output differs from " << path;
}

core::Snapshot hostile_host() {
  SnapshotBuilder b;
  std::int32_t pid = 4000;
  for (const char* name : kHostileNames) {
    b.process(++pid, name, 900, 1024);
    b.owned(pid, TcpState::Listen, "0.0.0.0:" + std::to_string(pid), "0.0.0.0:0");
    for (int i = 0; i < 4; ++i)
      SnapshotBuilder::set_idle(b.owned(pid, TcpState::CloseWait,
                                        "10.0.0.1:" + std::to_string(40000 + pid * 10 + i),
                                        "10.0.0.5:8080"),
                                100 + 37.5 * i + pid % 7, 4000);
  }
  for (int i = 0; i < 30; ++i)
    b.time_wait("10.0.0.1:" + std::to_string(50000 + i), "10.0.0.9:443", 0.25 + i * 1.9);
  for (int i = 0; i < 3; ++i) {
    auto& s = b.add(TcpState::FinWait2, "10.0.0.1:" + std::to_string(52000 + i), "10.0.0.7:80");
    s.timer = core::TimerKind::TimeWait;
    s.timer_remaining_ms = 1234 + 1000 * static_cast<std::uint32_t>(i);
  }
  auto snap = b.finish();
  snap.namespaces = {{4026531840u, "default"}, {4026532001u, "\u5bb9\u5668-ns"}, {4026532002u, ""}};
  for (std::size_t i = 0; i < snap.sockets.size(); ++i)
    snap.sockets[i].netns_ino = i % 3 == 0 ? 4026531840u : i % 3 == 1 ? 4026532001u : 4026532002u;
  snap.owners.mutable_processes()[0].cmdline =
      std::string("evil --flag \x07 ") + std::string(120, 'x') + " \u202e" + std::string(40, 'y');
  return snap;
}

TEST(RenderGolden, CheckText) {
  const auto d = analyze::diagnose(hostile_host(), {});
  for (int width : {80, 50}) {
    std::ostringstream out;
    render::render_findings_text(out, d, {.color = width == 50, .width = width});
    check_golden("check." + std::to_string(width) + ".txt", out.str());
  }
}

TEST(RenderGolden, CheckJson) {
  std::ostringstream out;
  render::render_findings_json(out, analyze::diagnose(hostile_host(), {}));
  check_golden("check.json", out.str());
}

struct LsCase {
  core::Snapshot snap = hostile_host();
  core::KernelSettings kernel;
  std::vector<std::uint32_t> rows;
  std::vector<analyze::Age> ages;
  LsCase() {
    for (std::uint32_t i = 0; i < snap.sockets.size(); ++i) {
      rows.push_back(i);
      ages.push_back(analyze::estimate_age(snap.sockets[i], kernel));
    }
  }
  render::SocketListView view() const { return {&snap, rows, ages, true}; }
};

TEST(RenderGolden, LsTable) {
  const LsCase c;
  for (const auto& [name, opts] : {std::pair{"narrow", render::TableOptions{}},
                                   std::pair{"wide", render::TableOptions{.wide = true}},
                                   std::pair{"w100", render::TableOptions{.width = 100}}}) {
    std::ostringstream out;
    render::render_socket_table(out, c.view(), opts);
    check_golden(std::string("ls.") + name + ".txt", out.str());
  }
}

TEST(RenderGolden, LsJson) {
  const LsCase c;
  std::ostringstream out;
  render::render_socket_json(out, c.view());
  check_golden("ls.json", out.str());
}

TEST(RenderGolden, TopLines) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  auto m = testing::scene_view(6).model();
  for (std::size_t i = 0; i < m.holders.size(); ++i)
    m.holders[i].comm += kHostileNames[i % std::size(kHostileNames)];
  m.detail_age_s = 2.0 / 3;
  const render::LineOptions o{.interval_seconds = 0.25, .max_items = 20};
  check_golden("top_lines.txt", render::format_top_line(m, o));
  check_golden("top_lines.json", render::format_top_json(m, o));
}

TEST(RenderGolden, ExplainJson) {
  for (const char* name : {"linux-6.18", "linux-malformed"}) {
    core::FsRoot r;
    r.proc = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/" + name;
    auto k = collect::read_kernel_settings(r);
    ASSERT_TRUE(k) << name;
    k->kernel_release += "\xff\u202e\x1b";
    std::ostringstream out;
    render::render_explain_json(out, *k, analyze::build_all_topics(*k));
    check_golden(std::string("explain.") + name + ".json", out.str());
  }
}

} // namespace
} // namespace sockdoctor
