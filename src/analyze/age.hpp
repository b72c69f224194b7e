// How long a socket has been in its current state, and on what that estimate rests.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/kernel_settings.hpp"
#include "core/socket.hpp"

namespace sockdoctor::analyze {

// Where an age comes from. The kernel reports no state-entry time (kernel-facts section 10), so
// every basis other than Traced is an inference.
enum class AgeBasis : std::uint8_t {
  Unknown,   // nothing to go on
  Timer,     // TIME_WAIT / FIN_WAIT2 mini-socket: fixed length minus the timer's remaining time
  LastAck,   // tcpi_last_ack_recv: the FIN (or ACK of our FIN) was the last ACK-bearing segment
  FirstSeen, // first snapshot that showed the socket in this state (live view)
  Traced,    // recorded state transition (eBPF sock:inet_sock_set_state)
};

// "unknown", "timer", "last_ack", "first_seen", "traced".
std::string_view basis_name(AgeBasis b);

struct Age {
  std::optional<double> seconds;
  AgeBasis basis = AgeBasis::Unknown;
  bool lower_bound = false; // the true age may be larger
  bool estimate = false;    // neither exact nor a bound: rests on an assumption (see below)
};

// Age of s in its current state from what one snapshot shows.
// - TIME_WAIT: 60 s (or Alibaba's tcp_tw_timeout) minus the remaining timer. A lower bound: an
//   in-window ACK, or a rejected segment that carries an ACK, restarts the full 60 s
//   (tcp_timewait_state_process); a RST never does.
// - Orphaned FIN_WAIT2 mini-socket: its timer length from tcp_fin_timeout minus the remaining
//   timer. An estimate: the kernel's length is max(tcp_fin_timeout, 3.5 x RTO) (tcp_fin_time), or
//   a per-socket TCP_LINGER2, neither of which the dump shows.
// - CLOSE_WAIT, FIN_WAIT2 held by a process: tcpi_last_ack_recv, a lower bound (anything the peer
//   sends later, even an ACK for our data, makes it smaller).
// - Everything else: unknown.
Age estimate_age(const core::TcpSocket& s, const core::KernelSettings& k);

} // namespace sockdoctor::analyze
