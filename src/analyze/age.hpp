// How long a socket has been in its current state, and on what that estimate rests.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
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

// A std::optional<double> of seconds in 8 bytes (NaN = none; no age is NaN): an Age is kept for
// every socket, and std::optional<double> made it 24 bytes instead of 16 (8 MB per million
// sockets). Reads like the optional: if (a), *a, value_or; converts to std::optional<double>.
class OptionalSeconds {
public:
  constexpr OptionalSeconds() = default;
  constexpr OptionalSeconds(std::nullopt_t) {}
  constexpr OptionalSeconds(double v) : v_(v) {}
  constexpr OptionalSeconds(std::optional<double> v) : v_(v ? *v : kNone) {}
  // A template, so that it converts to bool only: a plain `explicit operator bool` would also
  // make `double(x)` and hence `std::optional<double>(x)` compile, as 0 or 1.
  template <std::same_as<bool> B> constexpr explicit operator B() const { return has_value(); }
  constexpr operator std::optional<double>() const {
    return has_value() ? std::optional<double>(v_) : std::nullopt;
  }
  constexpr bool has_value() const { return v_ == v_; } // false only for NaN
  constexpr double operator*() const { return v_; }
  constexpr double value_or(double other) const { return has_value() ? v_ : other; }
  friend constexpr bool operator==(OptionalSeconds a, OptionalSeconds b) {
    return a.has_value() == b.has_value() && (!a.has_value() || a.v_ == b.v_);
  }

private:
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  double v_ = kNone;
};

struct Age {
  OptionalSeconds seconds;
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
