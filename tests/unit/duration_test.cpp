// The two duration spellings: prose for sentences, compact for tables, one implementation.
#include "core/duration.hpp"

#include <gtest/gtest.h>

#include <limits>

using sockdoctor::core::compact_duration;
using sockdoctor::core::prose_duration;

TEST(Duration, CompactForTables) {
  EXPECT_EQ(compact_duration(0), "0s");
  EXPECT_EQ(compact_duration(59.9), "59s");
  EXPECT_EQ(compact_duration(60), "1m00s");
  EXPECT_EQ(compact_duration(125), "2m05s");
  EXPECT_EQ(compact_duration(3599.99), "59m59s");
  EXPECT_EQ(compact_duration(7260), "2h01m");
  EXPECT_EQ(compact_duration(86399), "23h59m");
  EXPECT_EQ(compact_duration(90000), "1d01h");
  EXPECT_EQ(compact_duration(100 * 86400 + 4 * 3600), "100d04h");
}

TEST(Duration, ProseForSentences) {
  EXPECT_EQ(prose_duration(0), "0.0 s");
  EXPECT_EQ(prose_duration(4.54), "4.5 s");
  EXPECT_EQ(prose_duration(9.96), "10.0 s"); // tenths below 10 s, rounded
  EXPECT_EQ(prose_duration(10), "10 s");
  EXPECT_EQ(prose_duration(99.9), "99 s");
  EXPECT_EQ(prose_duration(100), "1 min 40 s");
  EXPECT_EQ(prose_duration(312), "5 min 12 s");
  EXPECT_EQ(prose_duration(2 * 3600 + 13 * 60 + 59), "2 h 13 min");
  EXPECT_EQ(prose_duration(3 * 86400 + 4 * 3600), "3 d 04 h");
}

TEST(Duration, NonsenseReadsAsZeroAndHugeStaysDefined) {
  for (double v :
       {-5.0, std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(compact_duration(v), "0s") << v;
    EXPECT_EQ(prose_duration(v), "0.0 s") << v;
  }
  EXPECT_EQ(compact_duration(std::numeric_limits<double>::infinity()), "0s");
  EXPECT_EQ(compact_duration(1e300), "11574074074d01h"); // capped at 1e15 s, not undefined
}

TEST(Duration, ParsedAsPeopleTypeIt) {
  using sockdoctor::core::parse_duration;
  EXPECT_EQ(parse_duration("90"), 90.0);
  EXPECT_EQ(parse_duration("90s"), 90.0);
  EXPECT_EQ(parse_duration("30m"), 1800.0);
  EXPECT_EQ(parse_duration("2h"), 7200.0);
  EXPECT_EQ(parse_duration("7d"), 7 * 86400.0);
  EXPECT_EQ(parse_duration("1h30m"), 5400.0);
  EXPECT_EQ(parse_duration("1.5h"), 5400.0);
  EXPECT_EQ(parse_duration("0"), 0.0);
  for (const char* bad : {"", "h", "1x", "1h30", "-5m", "inf", "nan", "1 h", "2hh", "+3s"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}
