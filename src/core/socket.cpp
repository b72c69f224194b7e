// Timer names as ss -o prints them.
#include "core/socket.hpp"

namespace sockdoctor::core {

std::string_view timer_name(TimerKind t) {
  switch (t) {
  case TimerKind::Off:
    return "off";
  case TimerKind::Retransmit:
    return "on";
  case TimerKind::Keepalive:
    return "keepalive";
  case TimerKind::TimeWait:
    return "timewait";
  case TimerKind::Probe0:
    return "persist";
  }
  return "unknown";
}

} // namespace sockdoctor::core
