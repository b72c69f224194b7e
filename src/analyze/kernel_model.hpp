// What the kernel settings mean in numbers, per research/kernel-facts.md. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/address.hpp"
#include "core/kernel_settings.hpp"

namespace sockdoctor::analyze {

inline constexpr int kTimeWaitSeconds = 60; // TCP_TIMEWAIT_LEN, fixed (kernel-facts section 3)

// Usable ephemeral ports: ip_local_port_range minus ip_local_reserved_ports inside it
// (kernel-facts section 9: P). Defaults when the range is unknown: 32768..60999 = 28232.
int usable_ephemeral_ports(const core::KernelSettings& k);

// Whether tcp_tw_reuse can let connect() reuse a TIME_WAIT 4-tuple toward this peer.
struct TwReuseVerdict {
  bool applies = false;
  std::string reason; // one sentence: "tcp_tw_reuse=2 applies to loopback peers only"
};
TwReuseVerdict tw_reuse_verdict(const core::KernelSettings& k,
                                const core::IpAddress& peer,
                                bool timestamps_negotiated);

// How long a closed 4-tuple stays blocked for connect() (H in section 9), in seconds.
double tuple_block_seconds(const core::KernelSettings& k, bool reuse_applies);

// Sustainable new connections per second for one (saddr, daddr, dport): (P - E) / (L + H),
// with L ~ 0 for short connections.
double max_new_connection_rate(int usable_ports, int live_connections, double block_seconds);

// Orphaned FIN_WAIT2 lifetime in seconds: tcp_fin_timeout (default 60).
int fin_timeout_seconds(const core::KernelSettings& k);

// Keepalive figures: the first probe after keepalive_time idle seconds; abort after
// time + probes * intvl when nothing answers (only with SO_KEEPALIVE).
int keepalive_first_probe_seconds(const core::KernelSettings& k);
int keepalive_abort_seconds(const core::KernelSettings& k);

// ---- Added by the kernel explainer (helpers the functions above are built from). ----

// Upper bound of timer-wheel slack on the 60 s TIME_WAIT timer at HZ=1000 (kernel-facts
// section 3: level 4, +0..4.1 s). Timers never fire early.
inline constexpr double kTimeWaitMaxSlackSeconds = 4.1;

// True when the kernel version is known and >= major.minor.
bool kernel_at_least(const core::KernelSettings& k, int major, int minor);
// True when the kernel version is known and < major.minor.
bool kernel_before(const core::KernelSettings& k, int major, int minor);

// tcp_tw_reuse in effect: the sysctl, else the default (2 since 4.18, 0 before; 2 if unknown).
int effective_tw_reuse(const core::KernelSettings& k);
// tcp_timestamps in effect: the sysctl, else the default 1.
int effective_timestamps(const core::KernelSettings& k);

// TIME_WAIT length in seconds: TCP_TIMEWAIT_LEN (60), or Alibaba Cloud Linux's
// net.ipv4.tcp_tw_timeout when that vendor sysctl exists (it exists nowhere else).
int time_wait_seconds(const core::KernelSettings& k);

// How soon connect() may reuse a TIME_WAIT 4-tuple when tw_reuse applies (kernel-facts section 4):
// >= 6.14 (or tcp_tw_reuse_delay present): [N, N+1] ms after entry into TIME_WAIT;
// 4.19-6.13: (0, 1] s; <= 4.18: (1, 2] s after the last timestamp received; unknown: (0, 2] s.
struct ReuseDelay {
  double min_seconds = 0;
  double max_seconds = 1;
  bool configurable = false; // tcp_tw_reuse_delay exists
  std::string text;          // "1000 ms (tcp_tw_reuse_delay)", "0-1 s (fixed on 4.19-6.13)"
};
ReuseDelay tw_reuse_delay(const core::KernelSettings& k);

// Minimum seconds before the kernel gives up retransmitting unacknowledged data with
// tcp_retries2 = n: tcp_model_timeout() with RTO 200 ms doubling up to 120 s (15 -> 924.6 s).
double retries2_timeout_seconds(int retries2);

// Total life of an orphaned FIN_WAIT2 with tmo = tcp_fin_timeout (kernel-facts section 7):
// tmo when tmo <= 60; above 60 the full socket waits tmo - 60 on the keepalive timer and then a
// FIN_WAIT2 mini-socket waits tmo - 60 again, so 2 * (tmo - 60) (equal to tmo only at 120).
// TCP_LINGER2 overrides tmo per socket; the kernel never uses less than 3.5 x RTO.
int orphan_fin_wait2_seconds(const core::KernelSettings& k);

// How late a kernel timer of this length can fire at the given HZ: the timer wheel rounds expiry
// up to its level's granularity (kernel/time/timer.c header table): 60 s -> 4.1 s and
// 7200 s -> 262 s at HZ=1000. Timers never fire early.
double timer_slack_seconds(double timeout_seconds, int hz = 1000);

} // namespace sockdoctor::analyze
