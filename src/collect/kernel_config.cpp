// Kernel build options from /proc/config.gz: a bounded gunzip, a line decoder, a bounded read.
#include "collect/kernel_config.hpp"

#include <mutex>

#include "collect/fs_read.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

namespace sockdoctor::collect {
namespace {

std::optional<int> parse_int(std::string_view s) {
  int v = 0;
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return v;
}

// One "NAME=value" or "# NAME is not set" line applied to the options we care about.
void apply_line(std::string_view line, KernelBuildConfig& out) {
  constexpr std::string_view kDestroy = "CONFIG_INET_DIAG_DESTROY";
  constexpr std::string_view kHz = "CONFIG_HZ=";
  if (line.substr(0, kHz.size()) == kHz) {
    // CONFIG_HZ is 100, 250, 300 or 1000 in mainline Kconfig; other values are not trusted.
    const auto hz = parse_int(line.substr(kHz.size()));
    out.hz = hz && *hz >= 24 && *hz <= 10000 ? hz : std::nullopt;
  } else if (line.substr(0, kDestroy.size() + 1) == std::string(kDestroy) + "=") {
    out.inet_diag_destroy = line.substr(kDestroy.size() + 1) == "y";
  }
}

} // namespace

core::Result<std::string> gunzip(std::string_view compressed, std::size_t max_output) {
  if (compressed.size() > 0xffffffffu)
    return core::fail(core::ErrorCode::TooLarge, "gunzip: input larger than 4 GiB");
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) // 16: expect a gzip header
    return core::fail("gunzip: inflateInit2 failed");
  // zlib's API takes a non-const pointer but does not write through next_in.
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_output) {
      inflateEnd(&zs);
      return core::fail(core::ErrorCode::TooLarge,
                        "gunzip: output larger than " + std::to_string(max_output) + " bytes");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) rc = Z_BUF_ERROR; // truncated
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END)
    return core::fail(core::ErrorCode::Malformed,
                      rc == Z_BUF_ERROR ? "gunzip: truncated stream" : "gunzip: corrupt stream");
  return out;
}

core::Result<KernelBuildConfig> parse_kernel_config(std::string_view text) {
  KernelBuildConfig out;
  bool any = false;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, 7) == "CONFIG_" || line.substr(0, 9) == "# CONFIG_") any = true;
    apply_line(line, out);
  }
  if (!any) return core::fail(core::ErrorCode::Malformed, "no CONFIG_ line: not a kernel .config");
  // Complete configuration: an option it does not set is off.
  if (!out.inet_diag_destroy) out.inet_diag_destroy = false;
  return out;
}

std::optional<int> parse_kernel_sublevel(std::string_view release) {
  const auto digits = [](std::string_view s) {
    std::size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9')
      ++n;
    return n;
  };
  const std::size_t major = digits(release);
  if (major == 0 || major >= release.size() || release[major] != '.') return std::nullopt;
  release.remove_prefix(major + 1);
  const std::size_t minor = digits(release);
  if (minor == 0) return std::nullopt;
  release.remove_prefix(minor);
  if (release.empty() || release.front() != '.') return 0; // "5.15", "6.1-rc1"
  release.remove_prefix(1);
  const std::size_t sub = digits(release);
  if (sub == 0 || sub > 6) return 0;
  return parse_int(release.substr(0, sub));
}

namespace {

KernelBuildConfig read_build_config(const std::string& path, std::vector<std::string>* problems) {
  const auto note = [&](std::string line) {
    if (problems != nullptr) problems->push_back(std::move(line));
  };
  auto raw = read_file(path, kMaxConfigGzBytes);
  if (!raw) {
    if (raw.error().sys_errno != ENOENT && raw.error().sys_errno != ENOTDIR)
      note(raw.error().message);
    return {};
  }
  auto text = gunzip(*raw, kMaxConfigTextBytes);
  if (!text) {
    note(path + ": " + text.error().message);
    return {};
  }
  auto config = parse_kernel_config(*text);
  if (!config) {
    note(path + ": " + config.error().message);
    return {};
  }
  return *config;
}

} // namespace

KernelBuildConfig read_kernel_build_config(const core::FsRoot& root,
                                           std::vector<std::string>* problems) {
  const std::string path = root.proc_path("config.gz");
  if (path != "/proc/config.gz") return read_build_config(path, problems);
  // The running kernel's build does not change: inflate it once per process, not on every
  // sample of a daemon (about half a millisecond each time).
  static std::once_flag once;
  static KernelBuildConfig live;
  static std::vector<std::string> live_problems;
  std::call_once(once, [] { live = read_build_config("/proc/config.gz", &live_problems); });
  if (problems != nullptr)
    problems->insert(problems->end(), live_problems.begin(), live_problems.end());
  return live;
}

} // namespace sockdoctor::collect
