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

// Whether tcp_tw_reuse can let connect() reuse a TIME_WAIT 4-tuple toward this peer. With
// tcp_tw_reuse=2 the entry counts as loopback when its peer or its local address is loopback, or
// it was bound to lo (tcp_twsk_unique()); pass the local address when it is known.
struct TwReuseVerdict {
  bool applies = false;
  std::string reason; // one sentence: "tcp_tw_reuse=2 applies only to loopback connections ..."
};
TwReuseVerdict tw_reuse_verdict(const core::KernelSettings& k,
                                const core::IpAddress& peer,
                                bool timestamps_negotiated,
                                const std::optional<core::IpAddress>& local = std::nullopt);

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

// True when the kernel version is known and >= major.minor.
bool kernel_at_least(const core::KernelSettings& k, int major, int minor);
// True when the kernel version is known and < major.minor.
bool kernel_before(const core::KernelSettings& k, int major, int minor);
// Within one stable series: true when the release is major.minor.patch or a later sublevel of it,
// false for an earlier sublevel, nullopt when the kernel is another series or its sublevel is
// unknown. For fixes backported to a stable branch ("6.18.17").
std::optional<bool> stable_at_least(const core::KernelSettings& k, int major, int minor, int patch);

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

// tcp_model_timeout(): the minimum time `boundary` retransmissions take when the RTO starts at
// TCP_RTO_MIN (200 ms) and doubles up to rto_max, then stays there. The kernel compares this time
// budget, not a count, with the time since the first retransmission (retransmits_timed_out()).
double model_timeout_seconds(int boundary, double rto_max_seconds);
// tcp_rto_max in seconds: net.ipv4.tcp_rto_max_ms when present (6.15+, default 120000; per
// socket TCP_RTO_MAX_MS), else TCP_RTO_MAX, the fixed 120 s of older kernels.
double rto_max_seconds(const core::KernelSettings& k);
// Minimum seconds before the kernel gives up retransmitting unacknowledged data with
// tcp_retries2 = n and the historical tcp_rto_max of 120 s (15 -> 924.6 s).
double retries2_timeout_seconds(int retries2);
// The same with this namespace's tcp_retries2 (default 15) and tcp_rto_max.
double retries2_timeout_seconds(const core::KernelSettings& k);
// tcp_orphan_retries() for a peer still "alive" (RTO below tcp_rto_max): the sysctl, and 0 means 8.
int effective_orphan_retries(const core::KernelSettings& k);
// The time budget an orphan (FIN_WAIT1, CLOSING, LAST_ACK) retransmits under while alive:
// tcp_model_timeout(effective_orphan_retries) = 102.2 s with the defaults (tcp_write_timeout()).
double orphan_retry_budget_seconds(const core::KernelSettings& k);

// What TCP timestamps carry on this kernel (secure_tcp_ts_off() / secure_tcp_seq_and_ts_off()).
enum class TsOffsets {
  Off,           // tcp_timestamps=0: no timestamps at all
  NoOffset,      // tcp_timestamps=2, or a kernel before 4.10: the raw clock
  PerConnection, // a keyed offset per 4-tuple (4.10.0; 6.18.17+ and 7.0 via 165573e41f2f)
  PerHostPair,   // a keyed offset per (saddr, daddr) (28ee1b746f49, 4.12 .. 6.19)
  Unknown,       // version unknown, or a branch whose backport status was not verified
};
TsOffsets timestamp_offsets(const core::KernelSettings& k);

// Total life of an orphaned FIN_WAIT2 with tmo = tcp_fin_timeout (kernel-facts section 7):
// tmo when tmo <= 60; above 60 the full socket waits tmo - 60 on the keepalive timer and then a
// FIN_WAIT2 mini-socket waits tmo - 60 again, so 2 * (tmo - 60) (equal to tmo only at 120).
// TCP_LINGER2 overrides tmo per socket; the kernel never uses less than 3.5 x RTO.
int orphan_fin_wait2_seconds(const core::KernelSettings& k);

// How late a kernel timer of this length can fire at the given HZ: the timer wheel rounds expiry
// up to its level's granularity (kernel/time/timer.c, calc_index()): 60 s -> 4.1 s and
// 7200 s -> 262 s at HZ=1000; 2.0 s and 131 s at HZ=250. Timers never fire early.
double timer_slack_seconds(double timeout_seconds, int hz);
// The same at this kernel's CONFIG_HZ; nullopt when HZ is unknown (no /proc/config.gz).
std::optional<double> timer_slack_seconds(const core::KernelSettings& k, double timeout_seconds);

} // namespace sockdoctor::analyze
