// What the kernel settings mean in numbers (research/kernel-facts.md sections 2, 4, 7, 9).
#include "analyze/kernel_model.hpp"

#include <algorithm>
#include <cmath>
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

} // namespace

bool kernel_at_least(const core::KernelSettings& k, int major, int minor) {
  if (k.kernel_major <= 0) return false;
  return std::pair{k.kernel_major, k.kernel_minor} >= std::pair{major, minor};
}

bool kernel_before(const core::KernelSettings& k, int major, int minor) {
  if (k.kernel_major <= 0) return false;
  return std::pair{k.kernel_major, k.kernel_minor} < std::pair{major, minor};
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
    d.max_seconds = (ms + 1) / 1000.0;
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
                                bool timestamps_negotiated) {
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
  if (reuse == 2 && !peer.is_loopback()) {
    v.reason = fmt::format("tcp_tw_reuse=2 applies to loopback peers only (127/8, ::1, "
                           "::ffff:127.x), and {} is not one",
                           core::to_string(peer));
    return v;
  }
  if (!timestamps_negotiated) {
    v.reason = "the connection did not negotiate TCP timestamps (both ends must), so its "
               "TIME_WAIT cannot be reused";
    return v;
  }
  v.applies = true;
  v.reason = fmt::format("tcp_tw_reuse={} lets connect() reuse a TIME_WAIT 4-tuple toward {} "
                         "{}",
                         reuse, reuse == 2 ? "loopback peers" : "any peer", tw_reuse_delay(k).text);
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
  return 2 * (tmo - kTimeWaitSeconds);
}

int keepalive_first_probe_seconds(const core::KernelSettings& k) {
  return k.tcp_keepalive_time.value_or(7200);
}

int keepalive_abort_seconds(const core::KernelSettings& k) {
  return keepalive_first_probe_seconds(k) +
         k.tcp_keepalive_probes.value_or(9) * k.tcp_keepalive_intvl.value_or(75);
}

double retries2_timeout_seconds(int retries2) {
  // tcp_model_timeout(): geometric backoff from TCP_RTO_MIN until TCP_RTO_MAX, then linear.
  constexpr double kRtoMin = 0.2, kRtoMax = 120.0;
  constexpr int kThresh = 9; // ilog2(TCP_RTO_MAX / TCP_RTO_MIN) = ilog2(600)
  const int n = std::clamp(retries2, 0, 255);
  if (n <= kThresh) return ((2 << n) - 1) * kRtoMin;
  return ((2 << kThresh) - 1) * kRtoMin + (n - kThresh) * kRtoMax;
}

double timer_slack_seconds(double timeout_seconds, int hz) {
  // LVL_START(n) = 63 << 3(n-1) jiffies, granularity 8^n jiffies, 9 levels (HZ > 100).
  const double jiffies = timeout_seconds * hz;
  double granularity = 1;
  for (int level = 1; level < 9; ++level) {
    const double start = 63.0 * std::pow(8.0, level - 1);
    if (jiffies < start) break;
    granularity = std::pow(8.0, level);
  }
  return granularity / hz;
}

} // namespace sockdoctor::analyze
