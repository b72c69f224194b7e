// Core model: state names and filters, addresses, owner table.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "core/address.hpp"
#include "core/owner.hpp"
#include "core/tcp_state.hpp"

using namespace sockdoctor::core;

TEST(TcpState, NamesMatchSs) {
  EXPECT_EQ(ss_name(TcpState::CloseWait), "CLOSE-WAIT");
  EXPECT_EQ(ss_name(TcpState::Established), "ESTAB");
  EXPECT_EQ(snake_name(TcpState::FinWait2), "fin_wait2");
  EXPECT_EQ(snake_name(TcpState::TimeWait), "time_wait");
}

TEST(TcpState, ParsesSsSnakeAndGroups) {
  EXPECT_EQ(parse_state_word("close-wait"), state_bit(TcpState::CloseWait));
  EXPECT_EQ(parse_state_word("close_wait"), state_bit(TcpState::CloseWait));
  EXPECT_EQ(parse_state_word("CLOSE-WAIT"), state_bit(TcpState::CloseWait));
  EXPECT_EQ(parse_state_word("estab"), state_bit(TcpState::Established));
  EXPECT_EQ(parse_state_word("fin-wait-2"), state_bit(TcpState::FinWait2));
  auto connected = parse_state_word("connected");
  ASSERT_TRUE(connected);
  EXPECT_FALSE(*connected & state_bit(TcpState::Listen));
  EXPECT_TRUE(*connected & state_bit(TcpState::TimeWait));
  EXPECT_FALSE(*connected & state_bit(TcpState::Close));
  EXPECT_EQ(parse_state_list("close-wait,time_wait"),
            state_bit(TcpState::CloseWait) | state_bit(TcpState::TimeWait));
  std::string_view bad;
  EXPECT_FALSE(parse_state_list("close-wait,bogus", &bad));
  EXPECT_EQ(bad, "bogus");
  EXPECT_FALSE(parse_state_word(""));
}

TEST(TcpState, AllMaskLeavesCloseOut) {
  EXPECT_EQ(kAllStatesMask & state_bit(TcpState::Close), 0u);
  for (auto s : kAllStates)
    EXPECT_TRUE(kAllStatesMask & state_bit(s)) << snake_name(s);
}

TEST(Address, FormatsAndParses) {
  auto a = parse_address("127.0.0.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(to_string(*a), "127.0.0.1");
  EXPECT_TRUE(a->is_loopback());
  auto b = parse_address("[::1]");
  ASSERT_TRUE(b);
  EXPECT_EQ(to_string(Endpoint{*b, 443}), "[::1]:443");
  EXPECT_TRUE(b->is_loopback());
  EXPECT_EQ(to_string(*parse_address("255.10.0.9")), "255.10.0.9");
  EXPECT_TRUE(parse_address("::ffff:127.0.0.5")->is_loopback());
  EXPECT_FALSE(parse_address("10.0.0.1")->is_loopback());
  EXPECT_FALSE(parse_address("nonsense"));
}

TEST(OwnerTable, GroupsSharedSocketsByInode) {
  OwnerTable t;
  auto p1 = t.add_process({.pid = 10, .comm = "a"});
  auto p2 = t.add_process({.pid = 20, .comm = "b"});
  t.add_fd(500, p2, 4);
  t.add_fd(500, p1, 7);
  t.add_fd(600, p1, 3);
  t.finalize();
  auto o = t.owners_of(500);
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(t.process(o[0].process_index).pid, 10);
  EXPECT_EQ(o[0].fd, 7);
  EXPECT_EQ(t.process(o[1].process_index).pid, 20);
  EXPECT_EQ(t.owners_of(600).size(), 1u);
  EXPECT_TRUE(t.owners_of(0).empty());
  EXPECT_TRUE(t.owners_of(999).empty());
}

// Many inodes, some shared, wrapping probes (a table not a power of two): every lookup must return
// exactly its own run, and an absent inode nothing, against a std::map built beside it.
TEST(OwnerTable, LookupsAgreeWithAMapAtScale) {
  OwnerTable t;
  std::map<std::uint32_t, std::vector<std::pair<std::int32_t, std::int32_t>>> truth;
  std::vector<std::uint32_t> procs;
  for (int p = 0; p < 7; ++p)
    procs.push_back(t.add_process({.pid = 100 + p, .comm = "p"}));
  std::uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 1664525u + 1013904223u;
    const std::uint32_t inode = 1 + (x >> 8) % 15000; // about a quarter of the inodes repeat
    const std::uint32_t proc = procs[(x >> 3) % procs.size()];
    const std::int32_t fd = i + 3;
    t.add_fd(inode, proc, fd);
    truth[inode].push_back({100 + static_cast<std::int32_t>(proc), fd});
  }
  EXPECT_EQ(t.reference_count(), 20000u);
  t.finalize();
  for (auto& [inode, want] : truth) {
    std::sort(want.begin(), want.end());
    std::vector<std::pair<std::int32_t, std::int32_t>> got;
    for (const auto& ref : t.owners_of(inode)) {
      EXPECT_EQ(ref.inode, inode);
      got.push_back({t.process(ref.process_index).pid, ref.fd});
    }
    ASSERT_EQ(got, want) << "inode " << inode;
  }
  for (std::uint32_t absent = 15001; absent < 16000; ++absent)
    EXPECT_TRUE(t.owners_of(absent).empty());
}
