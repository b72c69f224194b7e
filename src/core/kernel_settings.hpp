// Kernel settings and counters of one network namespace, as read from /proc/sys and /proc/net.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sockdoctor::core {

struct PortRange {
  int low = 32768;
  int high = 60999;
};

struct KernelSettings {
  std::string kernel_release; // uname -r, e.g. "6.18.44"
  int kernel_major = 0;       // parsed from kernel_release; 0 = unknown
  int kernel_minor = 0;
  int kernel_patch = -1; // sublevel: "6.18.44" -> 44, "5.15" -> 0; -1 = unknown

  // Build options from /proc/config.gz; nullopt = unknown (no config.gz, unreadable). Figures
  // that depend on them say "unknown" rather than assume a value.
  std::optional<int> config_hz;                 // CONFIG_HZ (this machine kind: 250)
  std::optional<bool> config_inet_diag_destroy; // CONFIG_INET_DIAG_DESTROY: ss -K can work

  // net.ipv4.* sysctls; nullopt = file absent or unreadable (absence itself is information:
  // tcp_tw_recycle is absent on >= 4.12, tcp_tw_reuse_delay on < 6.14).
  std::optional<int> tcp_fin_timeout;      // seconds, default 60
  std::optional<int> tcp_keepalive_time;   // seconds, default 7200
  std::optional<int> tcp_keepalive_intvl;  // seconds, default 75
  std::optional<int> tcp_keepalive_probes; // default 9
  std::optional<int> tcp_tw_reuse;         // 0, 1, 2 (2 = loopback only, default)
  std::optional<int> tcp_tw_reuse_delay;   // ms, 6.14+
  std::optional<int> tcp_timestamps;       // 0, 1, 2
  std::optional<long> tcp_max_tw_buckets;
  std::optional<long> tcp_max_orphans;
  std::optional<int> tcp_orphan_retries;
  std::optional<int> tcp_retries2;
  std::optional<int> tcp_rto_max_ms;        // 6.15+, 1000..120000, default 120000
  std::optional<int> tcp_abort_on_overflow; // 0 (default): a full accept queue drops the ACK
  std::optional<int> tcp_rfc1337;
  std::optional<int> tcp_syncookies;
  std::optional<int> tcp_max_syn_backlog;
  std::optional<int> somaxconn; // net.core.somaxconn
  std::optional<PortRange> ip_local_port_range;
  std::vector<std::pair<int, int>> ip_local_reserved_ports; // inclusive ranges
  bool tcp_tw_recycle_present = false; // removed in 4.12; present = very old kernel
  std::optional<int> tcp_tw_timeout;   // Alibaba Cloud Linux only

  // /proc/net/netstat TcpExt and /proc/net/snmp Tcp counters, by name without the prefix
  // ("TCPTimeWaitOverflow", "ListenOverflows", "ListenDrops", "TCPAbortOnTimeout", "CurrEstab").
  std::map<std::string, std::uint64_t> tcp_ext;
  std::map<std::string, std::uint64_t> tcp_snmp;

  // /proc/net/sockstat "TCP: inuse N orphan O tw T alloc A mem M".
  std::optional<std::uint64_t> sockstat_inuse, sockstat_orphan, sockstat_tw, sockstat_alloc;
};

} // namespace sockdoctor::core
