// One TCP socket as the kernel reports it (sock_diag or /proc/net/tcp), decoded into a compact
// record.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/address.hpp"
#include "core/tcp_state.hpp"

namespace sockdoctor::core {

// idiag_timer / /proc/net/tcp "tr" codes (kernel-facts section 10).
enum class TimerKind : std::uint8_t {
  Off = 0,
  Retransmit = 1, // ss "on": retransmit, RACK reorder or tail-loss probe
  Keepalive = 2,  // also the orphaned-FIN_WAIT2 timer and deferred FIN: not proof of SO_KEEPALIVE
  TimeWait = 3,   // TIME_WAIT and FIN_WAIT2 mini-sockets
  Probe0 = 4,     // zero-window probe (ss "persist")
};

// "off", "on", "keepalive", "timewait", "persist" (ss -o names).
std::string_view timer_name(TimerKind t);

// The subset of struct tcp_info that sockdoctor uses. Times are milliseconds ago.
struct TcpInfoLite {
  std::uint32_t last_data_sent_ms = 0;
  std::uint32_t last_data_recv_ms = 0;
  std::uint32_t last_ack_recv_ms = 0;
  std::uint32_t rtt_us = 0;
  std::uint32_t rttvar_us = 0;
  std::uint32_t rto_us = 0;
  std::uint8_t options = 0; // TCPI_OPT_* (1 = timestamps negotiated)
  std::uint8_t probes = 0;  // unanswered keepalive / zero-window probes
  std::uint8_t retransmits = 0;
  std::uint8_t backoff = 0;
};

inline constexpr std::uint8_t kTcpiOptTimestamps = 1;

struct TcpSocket {
  Endpoint local;
  Endpoint peer;
  std::uint64_t cookie = 0;    // inet_diag socket cookie; 0 when unknown (/proc/net/tcp)
  std::uint64_t cgroup_id = 0; // cgroup v2 id of the creating process (INET_DIAG_CGROUP_ID): full
                               // sockets only, orphans included; 0 for TIME_WAIT and unknown
  std::uint32_t netns_ino = 0; // network namespace inode; 0 = the namespace sockdoctor runs in
  std::uint32_t recv_q = 0;    // LISTEN: accept backlog; else rcv_nxt - copied_seq (+1 unread FIN)
  std::uint32_t send_q = 0;    // LISTEN: max backlog; else write_seq - snd_una
  std::uint32_t timer_remaining_ms = 0;
  std::uint32_t uid = 0;
  std::uint32_t inode = 0; // 0: no struct socket (TIME_WAIT, orphan, not yet accepted)
  TcpState state = TcpState::Unknown;
  TimerKind timer = TimerKind::Off;
  std::uint8_t retrans = 0; // idiag_retrans: retransmits or unanswered probes, by timer kind
  bool has_info = false;    // tcp_info present (sock_diag with INET_DIAG_INFO, full sockets)
  TcpInfoLite info;

  Family family() const { return local.addr.family; }
};

// A socket bound to a device (SO_BINDTODEVICE, a VRF): a lookup by 4-tuple (SOCK_DESTROY's) finds
// it only with the ifindex (idiag_if). Kept apart from TcpSocket (Snapshot::bound_devices): almost
// no socket is bound, and a field took 8 bytes of every record with padding (8 MB per million).
struct BoundDevice {
  std::uint64_t cookie = 0;
  std::uint32_t ifindex = 0;
  friend bool operator==(const BoundDevice&, const BoundDevice&) = default;
};

// An orphaned FIN_WAIT2 socket that the kernel already replaced with a timewait mini-socket
// (tw_substate FIN_WAIT2: no fd, the TIME_WAIT timer kind). It holds its 4-tuple like a
// TIME_WAIT entry and counts in sockstat's "tw" (kernel-facts section 7).
inline bool is_fin_wait2_mini(const TcpSocket& s) {
  return s.state == TcpState::FinWait2 && s.timer == TimerKind::TimeWait && s.inode == 0;
}

// TIME_WAIT or a FIN_WAIT2 mini-socket: both block their 4-tuple without an fd.
inline bool is_time_wait_entry(const TcpSocket& s) {
  return s.state == TcpState::TimeWait || is_fin_wait2_mini(s);
}

} // namespace sockdoctor::core
