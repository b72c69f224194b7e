// The register's socket table as readers see it: sizing, the set of a cookie (as the programs
// compute it), and which ways a reader may trust.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "collect/bpf/state_register.h"
#include "collect/state_register_table.hpp"

namespace sockdoctor::collect {
namespace {

TEST(RegisterTable, SetsArePowersOfTwoThatHoldTheAskedEntries) {
  EXPECT_EQ(register_set_bits(131072), 15u); // the default: 32768 sets of 4
  EXPECT_EQ(register_set_bits(16), 2u);
  EXPECT_EQ(register_set_bits(17), 3u) << "rounded up, never down";
  EXPECT_EQ(register_set_bits(4), 0u);
  EXPECT_EQ(register_set_bits(1), 0u);
  EXPECT_EQ(register_set_bits(0xffffffffu), 24u) << "bounded: 2^24 sets (4 GiB)";
}

// Cookies come in runs of consecutive numbers (a per-CPU batch of the kernel's counter): a run
// as long as the table fills every set exactly, whatever it starts at.
TEST(RegisterTable, ConsecutiveCookiesFillEverySetEvenly) {
  constexpr std::uint32_t bits = 10, sets = 1u << bits;
  for (std::uint64_t base : {1ull, 4096ull * 77 + 5, (1ull << 40) + 123}) {
    std::vector<int> per_set(sets);
    for (std::uint64_t c = base; c < base + sets * kRegisterWays; ++c)
      ++per_set.at(register_set_index(c, bits));
    for (std::uint32_t s = 0; s < sets; ++s)
      ASSERT_EQ(per_set[s], static_cast<int>(kRegisterWays)) << "base " << base << " set " << s;
  }
}

std::vector<std::byte> way_bytes(std::uint64_t seq, std::uint64_t cookie, std::uint8_t fill) {
  sr_way w{};
  w.seq = seq;
  w.cookie = cookie;
  std::memset(&w.entry, fill, sizeof w.entry);
  std::vector<std::byte> out(sizeof w);
  std::memcpy(out.data(), &w, sizeof w);
  return out;
}

TEST(RegisterTable, OnlySettledUsedWaysAreRead) {
  const auto good = way_bytes(4, 77, 0xab);
  auto way = stable_register_way(good, good);
  ASSERT_TRUE(way);
  EXPECT_EQ(way->cookie, 77u);
  EXPECT_EQ(way->entry[0], std::byte{0xab});
  EXPECT_EQ(way->entry[kRegisterEntrySize - 1], std::byte{0xab});
  EXPECT_FALSE(stable_register_way(way_bytes(4, 0, 0xab), way_bytes(4, 0, 0xab))) << "free";
  EXPECT_FALSE(stable_register_way(way_bytes(5, 77, 0xab), way_bytes(5, 77, 0xab)))
      << "odd: a program was writing it";
  EXPECT_FALSE(stable_register_way(good, way_bytes(6, 77, 0xcd))) << "written between copies";
  EXPECT_FALSE(stable_register_way(good, way_bytes(4, 78, 0xab))) << "replaced between copies";
  EXPECT_FALSE(stable_register_way(std::span(good).first(63), good)) << "short";
}

} // namespace
} // namespace sockdoctor::collect
