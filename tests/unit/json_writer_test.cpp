// The streaming JSON writer: nlohmann's bytes for the same document (the format check and explain
// have always had), number formats, escaping, and output in large chunks.
#include "render/json_writer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <streambuf>

namespace sockdoctor::render {
namespace {

std::string shortest(double v) {
  JsonWriter w;
  w.begin_array().number(v).end_array();
  const std::string s = w.take();
  return s.substr(1, s.size() - 3); // without "[", "]\n"
}

TEST(JsonWriter, DoublesMatchNlohmann) {
  const double edges[] = {0.0,
                          -0.0,
                          1.0,
                          -1.0,
                          302.0,
                          0.1,
                          0.125,
                          125.123,
                          1e15,
                          1e16,
                          123456789012345.0,
                          1234567890123456.0,
                          0.0001,
                          0.00001,
                          1.5e-7,
                          1e300,
                          -2.5e-300,
                          5e-324,
                          std::numeric_limits<double>::max(),
                          28232.0,
                          0.333333333333,
                          2.0 / 3};
  for (double v : edges)
    EXPECT_EQ(shortest(v), nlohmann::json(v).dump()) << v;
  // The values renderers write: ages from milliseconds, 60 s minus a timer, rounded rates.
  std::mt19937_64 rng(9);
  for (int i = 0; i < 40000; ++i) {
    const auto ms = static_cast<double>(rng() % 4294967296u);
    for (double v : {ms / 1000, 60 - std::fmod(ms, 60000) / 1000, std::round(ms / 7) / 10,
                     0.7 + std::fmod(ms, 1e6) * 0.001})
      ASSERT_EQ(shortest(v), nlohmann::json(v).dump()) << v;
  }
}

// nlohmann uses Grisu2, which for some doubles of 12 or more significant digits prints more
// digits than the shortest that reads back (913888.7481730001 for 913888.748173); the writer
// prints the shortest. Either reads back as the same double.
TEST(JsonWriter, EveryDoubleReadsBack) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 40000; ++i) {
    double v;
    const std::uint64_t bits = rng();
    std::memcpy(&v, &bits, sizeof v);
    if (!std::isfinite(v)) continue;
    EXPECT_EQ(nlohmann::json::parse(shortest(v)).get<double>(), v) << shortest(v);
  }
}

TEST(JsonWriter, IndentedIsNlohmannDumpTwo) {
  nlohmann::ordered_json j;
  j["schema_version"] = 1;
  j["empty_list"] = nlohmann::ordered_json::array();
  j["empty_map"] = nlohmann::ordered_json::object();
  j["list"] = {1, "two", nullptr, true, 2.5};
  j["nested"] = {{"a", {{"b", -3}}}, {"c", nlohmann::ordered_json::array({"x"})}};
  JsonWriter w(JsonLayout::Indented);
  w.begin_object().key("schema_version").number(1);
  w.key("empty_list").begin_array().end_array();
  w.key("empty_map").begin_object().end_object();
  w.key("list").begin_array().number(1).string("two").null().boolean(true).number(2.5).end_array();
  w.key("nested").begin_object().key("a").begin_object().key("b").number(-3).end_object();
  w.key("c").begin_array().string("x").end_array().end_object();
  w.end_object();
  EXPECT_EQ(w.take(), j.dump(2) + "\n");
}

TEST(JsonWriter, CompactAndOnePerLine) {
  JsonWriter w;
  w.begin_object().key("rows").begin_array(true);
  w.begin_object().key("a").number(1).end_object();
  w.begin_object().key("a").number(std::uint64_t{18446744073709551615u}).end_object();
  w.end_array().key("none").begin_array(true).end_array().end_object();
  EXPECT_EQ(w.take(), "{\"rows\":[\n{\"a\":1},\n{\"a\":18446744073709551615}\n],\"none\":[\n]}\n");
}

TEST(JsonWriter, FixedAndTrimmedNumbers) {
  JsonWriter w;
  w.begin_array().number_fixed(125, 3).number_fixed(0.0005, 3).number_trimmed(120, 3);
  w.number_trimmed(0.25, 3).number_trimmed(-0.0001, 3).number_trimmed(2.0 / 3, 3);
  w.number_trimmed(std::nan(""), 3).number_fixed(INFINITY, 3).number(-INFINITY).end_array();
  EXPECT_EQ(w.take(), "[125.000,0.001,120,0.25,0,0.667,null,null,null]\n");
}

TEST(JsonWriter, StringsAndKeysAreEscaped) {
  JsonWriter w;
  w.begin_object().key_escaped("k\"ey").string("a\x1b\n\"\\\xff").end_object();
  const std::string s = w.take();
  EXPECT_EQ(s, "{\"k\\\"ey\":\"a\\u001b\\u000a\\\"\\\\\\\\xff\"}\n");
  EXPECT_EQ(nlohmann::json::parse(s)["k\"ey"], "a\x1b\n\"\\\\xff");
}

// Records the size of every write the stream receives.
class ChunkBuf : public std::streambuf {
public:
  std::vector<std::size_t> writes;

protected:
  std::streamsize xsputn(const char*, std::streamsize n) override {
    writes.push_back(static_cast<std::size_t>(n));
    return n;
  }
};

TEST(JsonWriter, WritesInLargeChunks) {
  ChunkBuf buf;
  std::ostream out(&buf);
  {
    JsonWriter w(out);
    w.begin_array(true);
    for (int i = 0; i < 100000; ++i) // about 4 MB
      w.begin_object().key("i").number(i).key("name").string("some process").end_object();
    w.end_array();
  }
  ASSERT_GE(buf.writes.size(), 3u);
  for (std::size_t i = 0; i + 1 < buf.writes.size(); ++i)
    EXPECT_GE(buf.writes[i], JsonWriter::kFlushBytes);
}

} // namespace
} // namespace sockdoctor::render
