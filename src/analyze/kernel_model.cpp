// What the kernel settings mean in numbers (research/kernel-facts.md sections 2, 4, 7, 9).
#include "analyze/kernel_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace sockdoctor::analyze {
namespace {

constexpr core::PortRange kDefaultRange{32768, 60999}; // af_inet.c inet_init_net

// Merges overlapping reserved ranges so a port listed twice is subtracted once.
std::vector<std::pair<int, int>> merged(std::vector<std::pair<int, int>> ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<int, int>> out;
  for (const auto& r : ranges) {
    if (!out.empty() && r.first <= out.back().second + 1)
      out.back().second = std::max(out.back().second, r.second);
    else
      out.push_back(r);
  }
  return out;
}

// Figures from sysctls are computed in 64 bits and clamped to int: a recorded tree may hold
// values the kernel would refuse (2147483647 in tcp_fin_timeout), and no figure may overflow.
int clamp_to_int(std::int64_t v) {
  return static_cast<int>(std::clamp<std::int64_t>(v, std::numeric_limits<int>::min(),
                                                   std::numeric_limits<int>::max()));
}

} // namespace

bool kernel_at_least(const core::KernelSettings& k, int major, int minor) {
  if (k.kernel_major <= 0) return false;
  return std::pair{k.kernel_major, k.kernel_minor} >= std::pair{major, minor};
}

bool kernel_before(const core::KernelSettings& k, int major, int minor) {
  if (k.kernel_major <= 0) return false;
  return std::pair{k.kernel_major, k.kernel_minor} < std::pair{major, minor};
}

std::optional<bool>
stable_at_least(const core::KernelSettings& k, int major, int minor, int patch) {
  if (k.kernel_major != major || k.kernel_minor != minor || k.kernel_patch < 0) return std::nullopt;
  return k.kernel_patch >= patch;
}

TsOffsets timestamp_offsets(const core::KernelSettings& k) {
  const int ts = effective_timestamps(k);
  if (ts == 0) return TsOffsets::Off;
  if (ts == 2) return TsOffsets::NoOffset;
  if (k.kernel_major <= 0) return TsOffsets::Unknown;
  if (kernel_before(k, 4, 10)) return TsOffsets::NoOffset; // offsets arrived in 4.10
  // 4.10.0 had per-connection offsets; late 4.10.y and 4.12 per host pair: 4.10/4.11 unverified.
  if (kernel_before(k, 4, 12)) return TsOffsets::Unknown;
  if (kernel_at_least(k, 7, 0)) return TsOffsets::PerConnection; // 165573e41f2f, 7.0 cycle
  if (const auto fixed = stable_at_least(k, 6, 18, 17))
    return *fixed ? TsOffsets::PerConnection : TsOffsets::PerHostPair;
  // 6.12.y took the backport at a release not verified here; other branches may have too.
  if (k.kernel_major == 6 && (k.kernel_minor == 12 || k.kernel_minor == 18 || k.kernel_minor == 19))
    return TsOffsets::Unknown;
  return TsOffsets::PerHostPair;
}

int usable_ephemeral_ports(const core::KernelSettings& k) {
  const core::PortRange range = k.ip_local_port_range.value_or(kDefaultRange);
  int ports = range.high - range.low + 1;
  for (const auto& [low, high] : merged(k.ip_local_reserved_ports)) {
    const int a = std::max(low, range.low);
    const int b = std::min(high, range.high);
    if (a <= b) ports -= b - a + 1;
  }
  return std::max(ports, 0);
}

int effective_tw_reuse(const core::KernelSettings& k) {
  if (k.tcp_tw_reuse) return *k.tcp_tw_reuse;
  // Value 2 and the default 2 arrived in 4.18 (commit 79e9fed46038); before it was 0/1, default 0.
  return kernel_before(k, 4, 18) ? 0 : 2;
}

int effective_timestamps(const core::KernelSettings& k) {
  return k.tcp_timestamps.value_or(1);
}

int time_wait_seconds(const core::KernelSettings& k) {
  return k.tcp_tw_timeout.value_or(kTimeWaitSeconds);
}

ReuseDelay tw_reuse_delay(const core::KernelSettings& k) {
  ReuseDelay d;
  if (k.tcp_tw_reuse_delay || kernel_at_least(k, 6, 14)) {
    // 6.14: time_after32(tcp_clock_ms(), tw_entry_stamp + delay), threshold within [N, N+1] ms.
    const int ms = k.tcp_tw_reuse_delay.value_or(1000);
    d.min_seconds = ms / 1000.0;
    d.max_seconds = (ms + 1.0) / 1000.0;
    d.configurable = true;
    d.text = fmt::format("{} ms after entering TIME_WAIT (tcp_tw_reuse_delay)", ms);
  } else if (kernel_at_least(k, 4, 19)) {
    // time_after32(ktime_get_seconds(), tw_ts_recent_stamp): the next whole second.
    d.min_seconds = 0;
    d.max_seconds = 1;
    d.text = "0-1 s after the last timestamp received (fixed on 4.19-6.13)";
  } else if (kernel_before(k, 4, 19)) {
    // get_seconds() - tw_ts_recent_stamp > 1.
    d.min_seconds = 1;
    d.max_seconds = 2;
    d.text = "1-2 s after the last timestamp received (fixed on <= 4.18)";
  } else {
    d.min_seconds = 0;
    d.max_seconds = 2;
    d.text = "0-2 s (kernel version unknown)";
  }
  return d;
}

TwReuseVerdict tw_reuse_verdict(const core::KernelSettings& k,
                                const core::IpAddress& peer,
                                bool timestamps_negotiated,
                                const std::optional<core::IpAddress>& local) {
  TwReuseVerdict v;
  const int reuse = effective_tw_reuse(k);
  if (effective_timestamps(k) == 0) {
    v.reason = "tcp_timestamps=0: without timestamps connect() never reuses a TIME_WAIT 4-tuple";
    return v;
  }
  if (reuse == 0) {
    v.reason = "tcp_tw_reuse=0: connect() does not reuse TIME_WAIT 4-tuples";
    return v;
  }
  if (reuse == 2 && !peer.is_loopback() && !(local && local->is_loopback())) {
    v.reason = fmt::format("tcp_tw_reuse=2 applies only to loopback connections (peer or local "
                           "address in 127/8, ::1 or ::ffff:127.x, or a socket bound to lo), "
                           "and {} is not one",
                           core::to_string(peer));
    return v;
  }
  if (!timestamps_negotiated) {
    v.reason = "the connection did not negotiate TCP timestamps (both ends must), so its "
               "TIME_WAIT cannot be reused";
    return v;
  }
  v.applies = true;
  v.reason = fmt::format("tcp_tw_reuse={} lets connect() reuse a TIME_WAIT 4-tuple {} {}", reuse,
                         reuse == 2 ? "of a loopback connection" : "toward any peer",
                         tw_reuse_delay(k).text);
  return v;
}

double tuple_block_seconds(const core::KernelSettings& k, bool reuse_applies) {
  if (reuse_applies) return tw_reuse_delay(k).max_seconds;
  return time_wait_seconds(k);
}

double max_new_connection_rate(int usable_ports, int live_connections, double block_seconds) {
  const int free_ports = std::max(usable_ports - live_connections, 0);
  if (block_seconds <= 0) return std::numeric_limits<double>::infinity();
  return free_ports / block_seconds;
}

int fin_timeout_seconds(const core::KernelSettings& k) {
  return k.tcp_fin_timeout.value_or(60);
}

int orphan_fin_wait2_seconds(const core::KernelSettings& k) {
  const int tmo = fin_timeout_seconds(k);
  if (tmo <= kTimeWaitSeconds) return std::max(tmo, 0);
  return clamp_to_int(2 * (std::int64_t{tmo} - kTimeWaitSeconds));
}

int keepalive_first_probe_seconds(const core::KernelSettings& k) {
  return k.tcp_keepalive_time.value_or(7200);
}

int keepalive_abort_seconds(const core::KernelSettings& k) {
  return clamp_to_int(std::int64_t{keepalive_first_probe_seconds(k)} +
                      std::int64_t{k.tcp_keepalive_probes.value_or(9)} *
                          k.tcp_keepalive_intvl.value_or(75));
}

double model_timeout_seconds(int boundary, double rto_max_seconds) {
  // Geometric backoff from TCP_RTO_MIN until rto_max, then linear (tcp_model_timeout()).
  constexpr double kRtoMin = 0.2;
  const double rto_max = std::clamp(rto_max_seconds, kRtoMin, 120.0);
  // linear_backoff_thresh = ilog2(rto_max / rto_base) in whole multiples of the base.
  const auto ratio = static_cast<unsigned>(std::floor(rto_max / kRtoMin + 1e-9));
  int thresh = 0;
  while ((2u << thresh) <= ratio)
    ++thresh;
  const int n = std::clamp(boundary, 0, 255);
  if (n <= thresh) return ((2 << n) - 1) * kRtoMin;
  return ((2 << thresh) - 1) * kRtoMin + (n - thresh) * rto_max;
}

double rto_max_seconds(const core::KernelSettings& k) {
  if (k.tcp_rto_max_ms && *k.tcp_rto_max_ms >= 1000 && *k.tcp_rto_max_ms <= 120000)
    return *k.tcp_rto_max_ms / 1000.0;
  return 120.0; // TCP_RTO_MAX; also the tcp_rto_max_ms default on 6.15+
}

double retries2_timeout_seconds(int retries2) {
  return model_timeout_seconds(retries2, 120.0);
}

double retries2_timeout_seconds(const core::KernelSettings& k) {
  return model_timeout_seconds(k.tcp_retries2.value_or(15), rto_max_seconds(k));
}

int effective_orphan_retries(const core::KernelSettings& k) {
  const int retries = std::clamp(k.tcp_orphan_retries.value_or(0), 0, 255);
  return retries == 0 ? 8 : retries;
}

double orphan_retry_budget_seconds(const core::KernelSettings& k) {
  return model_timeout_seconds(effective_orphan_retries(k), rto_max_seconds(k));
}

std::optional<double> timer_slack_seconds(const core::KernelSettings& k, double timeout_seconds) {
  if (!k.config_hz || *k.config_hz <= 0) return std::nullopt;
  return timer_slack_seconds(timeout_seconds, *k.config_hz);
}

double timer_slack_seconds(double timeout_seconds, int hz) {
  // LVL_START(n) = 63 << 3(n-1) jiffies, granularity 8^n jiffies; LVL_DEPTH is 9 levels when
  // HZ > 100, else 8.
  const double jiffies = timeout_seconds * hz;
  const int depth = hz > 100 ? 9 : 8;
  double granularity = 1;
  for (int level = 1; level < depth; ++level) {
    const double start = 63.0 * std::pow(8.0, level - 1);
    if (jiffies < start) break;
    granularity = std::pow(8.0, level);
  }
  return granularity / hz;
}

} // namespace sockdoctor::analyze
