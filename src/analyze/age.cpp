// Socket ages from timers and tcp_info, per research/kernel-facts.md sections 3, 7 and 10.
#include "analyze/age.hpp"

#include <algorithm>

#include "analyze/kernel_model.hpp"

namespace sockdoctor::analyze {
namespace {

double remaining_seconds(const core::TcpSocket& s) {
  return s.timer_remaining_ms / 1000.0;
}

Age from_timer(double length_seconds, const core::TcpSocket& s, bool lower_bound) {
  const double age = std::max(0.0, length_seconds - remaining_seconds(s));
  return Age{age, AgeBasis::Timer, lower_bound};
}

Age time_wait_age(const core::TcpSocket& s, const core::KernelSettings& k) {
  // Fixed TCP_TIMEWAIT_LEN upstream; only Alibaba Cloud Linux has a knob for it.
  const int length = k.tcp_tw_timeout.value_or(kTimeWaitSeconds);
  return from_timer(length, s, true);
}

// tcp_fin_time() <= 60 s: the orphan becomes a mini-socket for the whole timeout at once. Above
// 60 s it first waits (tmo - 60) s as a full socket on the keepalive timer, then becomes a
// mini-socket for another (tmo - 60) s (tcp_keepalive_timer), so the mini-socket has already
// lived through the first half.
Age fin_wait2_mini_age(const core::TcpSocket& s, const core::KernelSettings& k) {
  const int tmo = k.tcp_fin_timeout.value_or(kTimeWaitSeconds);
  const double length = tmo <= kTimeWaitSeconds ? tmo : 2.0 * (tmo - kTimeWaitSeconds);
  Age a = from_timer(length, s, false);
  a.estimate = true;
  return a;
}

Age last_ack_age(const core::TcpSocket& s) {
  return Age{s.info.last_ack_recv_ms / 1000.0, AgeBasis::LastAck, true};
}

} // namespace

std::string_view basis_name(AgeBasis b) {
  switch (b) {
  case AgeBasis::Unknown:
    return "unknown";
  case AgeBasis::Timer:
    return "timer";
  case AgeBasis::LastAck:
    return "last_ack";
  case AgeBasis::FirstSeen:
    return "first_seen";
  case AgeBasis::Traced:
    return "traced";
  }
  return "unknown";
}

Age estimate_age(const core::TcpSocket& s, const core::KernelSettings& k) {
  using core::TcpState;
  using core::TimerKind;
  switch (s.state) {
  case TcpState::TimeWait:
    if (s.timer == TimerKind::TimeWait) return time_wait_age(s, k);
    break;
  case TcpState::FinWait2:
    if (core::is_fin_wait2_mini(s)) return fin_wait2_mini_age(s, k);
    // A FIN_WAIT2 still held by a process entered the state on the ACK of its FIN.
    if (s.inode != 0 && s.has_info) return last_ack_age(s);
    break;
  case TcpState::CloseWait:
    // The FIN that caused CLOSE_WAIT updated rcv_tstamp: last_ack_recv <= age <= last_data_recv.
    if (s.has_info) return last_ack_age(s);
    break;
  default:
    break;
  }
  return Age{};
}

} // namespace sockdoctor::analyze
