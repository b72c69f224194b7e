// Text and JSON rendering of a diagnosis: healthy line, escaping, width, colours, JSON schema.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/diagnose.hpp"
#include "render/findings_json.hpp"
#include "render/findings_text.hpp"
#include "render/text.hpp"

using namespace sockdoctor;
using core::TcpState;
using test_support::SnapshotBuilder;

namespace {

analyze::Diagnosis leaky(const std::string& comm, int n = 3) {
  SnapshotBuilder b;
  b.process(4242, comm);
  b.owned(4242, TcpState::Established, "10.0.0.1:39999", "10.0.0.5:8080");
  for (int i = 0; i < n; ++i)
    SnapshotBuilder::set_idle(b.owned(4242, TcpState::CloseWait,
                                      "10.0.0.1:" + std::to_string(40000 + i), "10.0.0.5:8080"),
                              300 + i, 900);
  return analyze::diagnose(b.finish(), {});
}

std::string text(const analyze::Diagnosis& d, bool color = false) {
  std::ostringstream out;
  render::render_findings_text(out, d, {.color = color});
  return out.str();
}

nlohmann::json json(const analyze::Diagnosis& d) {
  std::ostringstream out;
  render::render_findings_json(out, d);
  return nlohmann::json::parse(out.str());
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

} // namespace

TEST(FindingsText, HealthyHostIsOneShortReport) {
  SnapshotBuilder b;
  b.process(1, "a");
  b.owned(1, TcpState::Listen, "0.0.0.0:22", "0.0.0.0:0");
  b.owned(1, TcpState::Established, "10.0.0.1:22", "10.0.0.9:50000");
  b.time_wait("10.0.0.1:40000", "10.0.0.9:80");
  const auto out = text(analyze::diagnose(b.finish(), {}));
  EXPECT_EQ(out, "OK: 3 TCP sockets, no stuck sockets found\n"
                 "  states    LISTEN 1, ESTAB 1, TIME-WAIT 1\n");
}

TEST(FindingsText, FindingHasEverySection) {
  const auto out = text(leaky("client"));
  EXPECT_EQ(out.rfind("WARNING: 1 warning among 4 TCP sockets\n", 0), 0u) << out;
  EXPECT_TRUE(contains(out, "\nWARNING  pid 4242 (client) holds 3 CLOSE_WAIT sockets")) << out;
  EXPECT_TRUE(contains(out, "  peer      10.0.0.5:8080\n")) << out;
  EXPECT_TRUE(contains(out, "  oldest    at least 5m02s\n")) << out;
  EXPECT_TRUE(contains(out, "  evidence  Recv-Q 0 (EOF read, not closed): 3;")) << out;
  EXPECT_FALSE(contains(out, "Recv-Q 1 (EOF not read): 0")) << "zero counts are left out";
  EXPECT_TRUE(contains(out, "  why       The peer sent FIN")) << out;
  EXPECT_TRUE(contains(out, "  fix       - Fix the application")) << out;
  EXPECT_TRUE(contains(out, "\nAges: ")) << out;
  EXPECT_FALSE(contains(out, "\x1b")) << "no colour unless asked";
}

TEST(FindingsText, FitsEightyColumns) {
  const auto out = text(leaky("client", 150));
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    // A single word longer than the line (a long command) may overflow; prose must not.
    if (line.find(' ', 12) == std::string::npos) continue;
    EXPECT_LE(line.size(), 80u) << line;
  }
}

TEST(FindingsText, ProcessNamesCannotDriveTheTerminal) {
  const auto out = text(leaky("evil\x1b]0;pwned\x07\x1b[2J"));
  EXPECT_FALSE(contains(out, "\x1b")) << out;
  EXPECT_FALSE(contains(out, "\x07")) << out;
  EXPECT_TRUE(contains(out, "evil\\x1b]0;pwned\\x07\\x1b[2J")) << out;
}

TEST(FindingsText, ColourMarksSeverities) {
  const auto out = text(leaky("client"), /*color=*/true);
  EXPECT_TRUE(contains(out, "\x1b[1;33mWARNING")) << out;
  SnapshotBuilder b;
  EXPECT_TRUE(contains(text(analyze::diagnose(b.finish(), {}), true), "\x1b[1;32mOK\x1b[0m"));
}

TEST(FindingsText, SaysWhenOwnersCouldNotBeSeen) {
  SnapshotBuilder b;
  b.add(TcpState::Established, "10.0.0.1:40000", "10.0.0.5:80", /*inode=*/77);
  auto snap = b.finish();
  snap.owners.denied = 4;
  const auto out = text(analyze::diagnose(snap, {}));
  EXPECT_TRUE(contains(out, "  note      owners of 1 socket are unknown: 4 processes could not"))
      << out;
}

TEST(FindingsText, NoOwnerNoteWhenEverySocketHasAnOwner) {
  SnapshotBuilder b;
  b.add(TcpState::TimeWait, "10.0.0.1:40000", "10.0.0.5:80", /*inode=*/0);
  auto snap = b.finish();
  snap.owners.denied = 4; // unreadable processes that hold none of these sockets
  const auto out = text(analyze::diagnose(snap, {}));
  EXPECT_FALSE(contains(out, "could not be inspected")) << out;
}

TEST(FindingsJson, SchemaOne) {
  const auto j = json(leaky("client"));
  EXPECT_EQ(j["schema_version"], 1);
  ASSERT_EQ(j["findings"].size(), 1u);
  const auto& f = j["findings"][0];
  EXPECT_EQ(f["id"], "close_wait_leak");
  EXPECT_EQ(f["severity"], "warning");
  EXPECT_EQ(f["process"]["pid"], 4242);
  EXPECT_EQ(f["process"]["comm"], "client");
  EXPECT_EQ(f["peer"], "10.0.0.5:8080");
  EXPECT_EQ(f["count"], 3);
  EXPECT_DOUBLE_EQ(f["oldest_age_seconds"].get<double>(), 302);
  EXPECT_EQ(f["oldest_age_lower_bound"], true);
  EXPECT_EQ(f["evidence"]["recv_q_eof_read"], 3);
  EXPECT_EQ(f["evidence"]["recv_q_eof_unread"], 0);
  EXPECT_TRUE(f["evidence"]["peers"].is_array());
  EXPECT_TRUE(f["explanation"].is_string());
  EXPECT_TRUE(f["remedies"].is_array());
  EXPECT_EQ(j["summary"]["status"], "warning");
  EXPECT_EQ(j["summary"]["total_sockets"], 4);
  EXPECT_EQ(j["summary"]["states"]["close_wait"], 3);
  EXPECT_EQ(j["summary"]["states"]["time_wait"], 0);
  EXPECT_EQ(j["summary"]["owners"]["complete"], true);
}

TEST(FindingsJson, KeyOrderFollowsTheSchema) {
  std::ostringstream out;
  render::render_findings_json(out, leaky("client"));
  const auto s = out.str();
  EXPECT_LT(s.find("\"schema_version\""), s.find("\"findings\""));
  EXPECT_LT(s.find("\"findings\""), s.find("\"summary\""));
  EXPECT_LT(s.find("\"id\""), s.find("\"severity\""));
}

TEST(FindingsJson, InvalidUtf8StaysValidJson) {
  const auto j = json(leaky("bad\xff\xfe"));
  EXPECT_EQ(j["findings"][0]["process"]["comm"], "bad\\xff\\xfe");
}

TEST(FindingsJson, HealthyIsOkWithNoFindings) {
  SnapshotBuilder b;
  const auto j = json(analyze::diagnose(b.finish(), {}));
  EXPECT_TRUE(j["findings"].empty());
  EXPECT_EQ(j["summary"]["status"], "ok");
  EXPECT_EQ(j["findings"].dump(), "[]");
}

TEST(FindingsText, LongCommandLinesAreCutToOneLine) {
  SnapshotBuilder b;
  b.process(4242, "client");
  SnapshotBuilder::set_idle(b.owned(4242, TcpState::CloseWait, "10.0.0.1:40000", "10.0.0.5:8080"),
                            300);
  auto snap = b.finish();
  snap.owners.mutable_processes()[0].cmdline =
      "/usr/bin/python3 -c " + std::string(200, 'x') + "\n\xc3\xa9" + std::string(50, 'y');
  const auto out = text(analyze::diagnose(snap, {}));
  const auto at = out.find("  command   ");
  ASSERT_NE(at, std::string::npos) << out;
  const auto line = out.substr(at, out.find('\n', at) - at);
  EXPECT_LE(line.size(), 80u) << line;
  EXPECT_EQ(line.substr(line.size() - 3), "...") << line;
}

// Prose is wrapped by terminal cells: a wide process name used to push lines past 80 cells.
TEST(FindingsText, WideNamesWrapByCells) {
  const auto out =
      text(leaky("\u65e5\u672c\u8a9e\u30b5\u30fc\u30d0\u30fc\u30d7\u30ed\u30bb\u30b9"));
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line))
    EXPECT_LE(render::display_width(line), 80u) << line;
}

// check --json used to re-encode names through nlohmann, which writes U+009B (C1 CSI) raw; now
// every JSON renderer escapes through the same function as ls --json.
TEST(FindingsJson, C1ControlsAreEscapedLikeLs) {
  std::ostringstream out;
  render::render_findings_json(out, leaky("csi\xc2\x9b"
                                          "31m"));
  EXPECT_EQ(out.str().find("\xc2\x9b"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("csi\\u009b31m"), std::string::npos) << out.str();
  EXPECT_EQ(nlohmann::json::parse(out.str())["findings"][0]["process"]["comm"], "csi\xc2\x9b"
                                                                                "31m");
}
