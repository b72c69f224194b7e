// `ls` renderers: the table fits 80 columns, escapes owners, and the JSON follows the schema.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "render/socket_list.hpp"
#include "render/text.hpp"

#include "analyze/age.hpp"

using namespace sockdoctor;

namespace {

core::TcpSocket make(core::TcpState st,
                     const char* local,
                     int lport,
                     const char* peer,
                     int pport,
                     std::uint32_t inode) {
  core::TcpSocket s;
  s.local = {*core::parse_address(local), static_cast<std::uint16_t>(lport)};
  s.peer = {*core::parse_address(peer), static_cast<std::uint16_t>(pport)};
  s.state = st;
  s.inode = inode;
  s.cookie = 0xfedcba9876543210ull;
  return s;
}

struct Fixture {
  core::Snapshot snap;
  std::vector<std::uint32_t> rows;
  core::KernelSettings kernel;
  std::vector<analyze::Age> ages;

  Fixture() {
    snap.source = "test";
    auto cw = make(core::TcpState::CloseWait, "127.0.0.1", 41000, "127.0.0.1", 80, 1001);
    cw.recv_q = 1;
    cw.has_info = true;
    cw.info.last_ack_recv_ms = 125000;
    snap.sockets.push_back(cw);
    auto tw = make(core::TcpState::TimeWait, "127.0.0.1", 80, "127.0.0.1", 41001, 0);
    tw.timer = core::TimerKind::TimeWait;
    tw.timer_remaining_ms = 50000;
    snap.sockets.push_back(tw);
    snap.sockets.push_back(make(core::TcpState::Established,
                                "2001:db8:1234:5678:9abc:def0:1234:5678", 443,
                                "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 55555, 1002));
    auto p = snap.owners.add_process(
        {.pid = 4242, .uid = 1000, .comm = "evil\x1b[2Jname", .cmdline = "evil --flag \x07"});
    auto q = snap.owners.add_process({.pid = 4343, .comm = "child"});
    snap.owners.add_fd(1001, p, 7);
    snap.owners.add_fd(1001, q, 7);
    snap.owners.add_fd(1002, q, 3);
    snap.owners.finalize();
    snap.owners.scanned = true;
    rows = {0, 1, 2};
    for (const auto& s : snap.sockets)
      ages.push_back(analyze::estimate_age(s, kernel));
  }
  render::SocketListView view() const { return {&snap, rows, ages, true}; }
};

} // namespace

TEST(SocketTable, FitsEightyColumnsAndEscapesOwners) {
  Fixture f;
  std::ostringstream out;
  render::render_socket_table(out, f.view(), {});
  const std::string text = out.str();
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find('\x07'), std::string::npos);
  EXPECT_NE(text.find("4242/evil"), std::string::npos) << text;
  for (const char* split : {"\\x\xe2\x80\xa6", "\\x1\xe2\x80\xa6", "\\\xe2\x80\xa6"})
    EXPECT_EQ(text.find(split), std::string::npos) << "an escape was cut in half:\n" << text;
  EXPECT_NE(text.find(",+1"), std::string::npos) << "second owner summarised:\n" << text;
  EXPECT_NE(text.find("127.0.0.1:41000"), std::string::npos) << "IPv4 endpoints fit whole";
  EXPECT_NE(text.find("CLOSE-WAIT"), std::string::npos);
  EXPECT_NE(text.find("TIME-WAIT"), std::string::npos);
  EXPECT_NE(text.find(">2m05s"), std::string::npos) << "CLOSE_WAIT age from last_ack:\n" << text;
  EXPECT_NE(text.find(">10s"), std::string::npos) << "TIME_WAIT age = 60 s - 50 s:\n" << text;
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line.rfind("State", 0), 0u);
  while (std::getline(lines, line)) {
    std::size_t cols = 0;
    for (unsigned char c : line)
      cols += (c & 0xC0) != 0x80;
    EXPECT_LE(cols, 80u) << line;
  }
}

TEST(SocketTable, WideShowsEverything) {
  Fixture f;
  std::ostringstream out;
  render::render_socket_table(out, f.view(), {.wide = true});
  const std::string text = out.str();
  EXPECT_NE(text.find("[2001:db8:1234:5678:9abc:def0:1234:5678]:443"), std::string::npos) << text;
  EXPECT_NE(text.find("4242/evil\\x1b[2Jname(fd 7),4343/child(fd 7)"), std::string::npos) << text;
}

TEST(SocketJson, FollowsSchema) {
  Fixture f;
  std::ostringstream out;
  render::render_socket_json(out, f.view());
  const auto doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["schema_version"], 1);
  ASSERT_EQ(doc["sockets"].size(), 3u);
  const auto& cw = doc["sockets"][0];
  EXPECT_EQ(cw["family"], "ipv4");
  EXPECT_EQ(cw["state"], "close_wait");
  EXPECT_EQ(cw["local"]["addr"], "127.0.0.1");
  EXPECT_EQ(cw["local"]["port"], 41000);
  EXPECT_EQ(cw["peer"]["port"], 80);
  EXPECT_EQ(cw["recv_q"], 1);
  EXPECT_EQ(cw["timer"]["kind"], "off");
  EXPECT_EQ(cw["cookie"], "18364758544493064720");
  EXPECT_EQ(cw["age"]["basis"], "last_ack");
  EXPECT_DOUBLE_EQ(cw["age"]["seconds"].get<double>(), 125.0);
  ASSERT_EQ(cw["owners"].size(), 2u);
  EXPECT_EQ(cw["owners"][0]["pid"], 4242);
  EXPECT_EQ(cw["owners"][0]["fd"], 7);
  EXPECT_EQ(cw["owners"][0]["comm"], "evil\x1b[2Jname"); // valid JSON carries the real name
  EXPECT_EQ(cw["owners"][0]["cmdline"], "evil --flag \x07");
  EXPECT_TRUE(doc["sockets"][1]["owners"].empty());
  EXPECT_EQ(doc["sockets"][1]["timer"]["kind"], "timewait");
  EXPECT_EQ(doc["sockets"][2]["family"], "ipv6");
  EXPECT_EQ(doc["summary"]["states"]["close_wait"], 1);
  EXPECT_EQ(doc["summary"]["states"]["time_wait"], 1);
  EXPECT_EQ(doc["summary"]["states"]["established"], 1);
  EXPECT_FALSE(doc["summary"]["states"].contains("listen"));
  EXPECT_EQ(doc["summary"]["total"], 3);
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos) << "raw ESC never leaves in JSON text";
}

TEST(SocketJson, EmptyListIsValid) {
  Fixture f;
  f.rows.clear();
  std::ostringstream out;
  render::render_socket_json(out, f.view());
  const auto doc = nlohmann::json::parse(out.str());
  EXPECT_TRUE(doc["sockets"].empty());
  EXPECT_TRUE(doc["summary"]["states"].empty());
}

// Until the renderers shared one width function, the Netns column was measured in bytes and the
// Process column cut by code points: wide names misaligned the table and overflowed 80 cells.
TEST(SocketTable, WideGlyphsCountTwoCells) {
  Fixture f;
  f.snap.namespaces = {{1, "\u5bb9\u5668-ns"}, {2, "plain"}}; // 容器-ns: 7 cells, 9 bytes
  f.snap.sockets[0].netns_ino = 1;
  f.snap.sockets[1].netns_ino = 2;
  f.snap.sockets[2].netns_ino = 2;
  f.snap.owners.mutable_processes()[0].comm = "\u65e5\u672c\u8a9e\u30b5\u30fc\u30d0\u30fc";
  std::ostringstream out;
  render::render_socket_table(out, f.view(), {});
  std::istringstream lines(out.str());
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_LE(render::display_width(line), 80u) << line;
    const auto state = line.find_first_of("SCLTE"); // State, CLOSE-WAIT, LISTEN, TIME-WAIT, ESTAB
    ASSERT_NE(state, std::string::npos) << line;
    EXPECT_EQ(render::display_width(line.substr(0, state)), 8u) << "State column aligned:\n"
                                                                << out.str();
  }
  EXPECT_NE(out.str().find("4242/\u65e5\u2026,+1"), std::string::npos) << out.str();
}
