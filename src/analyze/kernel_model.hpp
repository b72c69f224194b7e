// What the kernel settings mean in numbers, per research/kernel-facts.md. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/address.hpp"
#include "core/kernel_settings.hpp"

namespace sockdoctor::analyze {

inline constexpr int kTimeWaitSeconds = 60;  // TCP_TIMEWAIT_LEN, fixed (kernel-facts section 3)

// Usable ephemeral ports: ip_local_port_range minus ip_local_reserved_ports inside it
// (kernel-facts section 9: P). Defaults when the range is unknown: 32768..60999 = 28232.
int usable_ephemeral_ports(const core::KernelSettings& k);

// Whether tcp_tw_reuse can let connect() reuse a TIME_WAIT 4-tuple toward this peer.
struct TwReuseVerdict {
  bool applies = false;
  std::string reason;  // one sentence: "tcp_tw_reuse=2 applies to loopback peers only"
};
TwReuseVerdict tw_reuse_verdict(const core::KernelSettings& k, const core::IpAddress& peer,
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

}  // namespace sockdoctor::analyze
