// Kernel build configuration: gunzip bounds, the .config decoder, release sublevels, and reads of
// recorded /proc trees (config.gz present, edited, absent, malformed, a FIFO).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "collect/kernel_config.hpp"
#include "collect/kernel_settings.hpp"

namespace sc = sockdoctor::collect;
using sockdoctor::core::ErrorCode;
using sockdoctor::core::FsRoot;

namespace {

// gzip-wrapped deflate of text, as /proc/config.gz is.
std::string gzip(const std::string& text) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, text.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

FsRoot fixture(const std::string& name) {
  FsRoot r;
  r.proc = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/" + name;
  return r;
}

constexpr const char* kConfig = "#\n# Linux/x86 6.18.44 Kernel Configuration\n#\n"
                                "# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n"
                                "CONFIG_INET_DIAG=y\nCONFIG_INET_DIAG_DESTROY=y\n";

} // namespace

TEST(Gunzip, RoundTrip) {
  const std::string text = kConfig;
  const auto out = sc::gunzip(gzip(text), 1 << 20);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, text);
  const auto empty = sc::gunzip(gzip(""), 16);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(Gunzip, TruncatedCorruptAndNotGzip) {
  const std::string gz = gzip(std::string(kConfig) + std::string(5000, 'x'));
  const auto truncated = sc::gunzip(gz.substr(0, gz.size() / 2), 1 << 20);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, ErrorCode::Malformed);
  EXPECT_FALSE(sc::gunzip(gz.substr(0, gz.size() - 4), 1 << 20)); // CRC/length trailer cut
  std::string corrupt = gz;
  corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x55);
  EXPECT_FALSE(sc::gunzip(corrupt, 1 << 20));
  EXPECT_FALSE(sc::gunzip("CONFIG_HZ=250\n", 1 << 20));
  EXPECT_FALSE(sc::gunzip("", 1 << 20));
}

TEST(Gunzip, StopsAGzipBombAtTheBound) {
  const std::string bomb = gzip(std::string(4 << 20, '\0')); // 4 MiB of zeros in ~4 KB
  EXPECT_LT(bomb.size(), 10000u);
  const auto out = sc::gunzip(bomb, 100000);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::TooLarge);
  EXPECT_TRUE(sc::gunzip(bomb, 5 << 20));
}

TEST(KernelConfigParse, HzAndDestroy) {
  const auto c = sc::parse_kernel_config(kConfig);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->hz, 250);
  EXPECT_EQ(c->inet_diag_destroy, true);

  const auto off =
      sc::parse_kernel_config("CONFIG_HZ=1000\n# CONFIG_INET_DIAG_DESTROY is not set\n");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->hz, 1000);
  EXPECT_EQ(off->inet_diag_destroy, false);
  // Missing from a complete configuration (INET_DIAG off): not built in.
  const auto missing =
      sc::parse_kernel_config("CONFIG_HZ=100\r\n# CONFIG_INET_DIAG is not set\r\n");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->hz, 100);
  EXPECT_EQ(missing->inet_diag_destroy, false);
}

TEST(KernelConfigParse, UntrustedValuesStayUnknown) {
  // The HZ choice alone is not the value; a value outside any Kconfig choice is not trusted.
  EXPECT_EQ(sc::parse_kernel_config("CONFIG_HZ_250=y\n")->hz, std::nullopt);
  EXPECT_EQ(sc::parse_kernel_config("CONFIG_HZ=abc\n")->hz, std::nullopt);
  EXPECT_EQ(sc::parse_kernel_config("CONFIG_HZ=0\n")->hz, std::nullopt);
  EXPECT_EQ(sc::parse_kernel_config("CONFIG_HZ=99999999999\n")->hz, std::nullopt);
  EXPECT_EQ(sc::parse_kernel_config("CONFIG_INET_DIAG_DESTROY=m\n")->inet_diag_destroy, false);
  EXPECT_FALSE(sc::parse_kernel_config(""));
  EXPECT_FALSE(sc::parse_kernel_config("HZ=250\nhello\n"));
}

TEST(KernelRelease, Sublevel) {
  EXPECT_EQ(sc::parse_kernel_sublevel("6.18.44-fc-v595"), 44);
  EXPECT_EQ(sc::parse_kernel_sublevel("6.18.17"), 17);
  EXPECT_EQ(sc::parse_kernel_sublevel("4.19.91-26.al7.x86_64"), 91);
  EXPECT_EQ(sc::parse_kernel_sublevel("5.15"), 0);
  EXPECT_EQ(sc::parse_kernel_sublevel("6.1-rc1"), 0);
  EXPECT_EQ(sc::parse_kernel_sublevel("6.1.x"), 0);
  EXPECT_EQ(sc::parse_kernel_sublevel("garbage"), std::nullopt);
  EXPECT_EQ(sc::parse_kernel_sublevel("6."), std::nullopt);
  EXPECT_EQ(sc::parse_kernel_sublevel(""), std::nullopt);
}

TEST(KernelConfigRead, RecordedTrees) {
  std::vector<std::string> problems;
  const auto recorded = sc::read_kernel_build_config(fixture("linux-6.18"), &problems);
  EXPECT_EQ(recorded.hz, 250);
  EXPECT_EQ(recorded.inet_diag_destroy, true);
  const auto tuned = sc::read_kernel_build_config(fixture("linux-6.18-tuned"), &problems);
  EXPECT_EQ(tuned.hz, 1000);
  EXPECT_EQ(tuned.inet_diag_destroy, false);
  EXPECT_TRUE(problems.empty());

  // No config.gz: unknown, and that is not a problem worth a line.
  const auto absent = sc::read_kernel_build_config(fixture("linux-4.9"), &problems);
  EXPECT_EQ(absent.hz, std::nullopt);
  EXPECT_EQ(absent.inet_diag_destroy, std::nullopt);
  EXPECT_TRUE(problems.empty());

  const auto bad = sc::read_kernel_build_config(fixture("linux-malformed"), &problems);
  EXPECT_EQ(bad.hz, std::nullopt);
  EXPECT_EQ(bad.inet_diag_destroy, std::nullopt);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("config.gz"), std::string::npos);
}

TEST(KernelConfigRead, AFifoDoesNotBlock) {
  char tmpl[] = "/tmp/sockdoctor-config-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(::mkfifo((dir + "/config.gz").c_str(), 0600), 0);
  FsRoot r;
  r.proc = dir;
  std::vector<std::string> problems;
  const auto c = sc::read_kernel_build_config(r, &problems);
  EXPECT_EQ(c.hz, std::nullopt);
  EXPECT_EQ(problems.size(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(KernelConfigRead, IntoKernelSettings) {
  const auto k = sc::read_kernel_settings(fixture("linux-6.18"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->config_hz, 250);
  EXPECT_EQ(k->config_inet_diag_destroy, true);
  EXPECT_EQ(k->kernel_patch, 44);
  EXPECT_EQ(k->tcp_rto_max_ms, 120000);
  EXPECT_EQ(k->tcp_abort_on_overflow, 0);
  const auto old = sc::read_kernel_settings(fixture("linux-4.9"));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->config_hz, std::nullopt);
  EXPECT_EQ(old->tcp_rto_max_ms, std::nullopt); // 6.15+ only
}
