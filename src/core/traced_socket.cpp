// Names of the state register's owner roles and transition kinds.
#include "core/traced_socket.hpp"

namespace sockdoctor::core {

std::string_view owner_role_name(OwnerRole role) {
  switch (role) {
  case OwnerRole::Connect:
    return "connect";
  case OwnerRole::Listen:
    return "listen";
  case OwnerRole::Accept:
    return "accept";
  case OwnerRole::Close:
    return "close";
  case OwnerRole::Unknown:
    break;
  }
  return "unknown";
}

std::string_view transition_kind_name(TransitionKind kind) {
  switch (kind) {
  case TransitionKind::State:
    return "state";
  case TransitionKind::TimeWaitStart:
    return "time_wait_start";
  case TransitionKind::TimeWaitRestart:
    return "time_wait_restart";
  case TransitionKind::TimeWaitExpire:
    return "time_wait_expire";
  case TransitionKind::TimeWaitKill:
    return "time_wait_kill";
  }
  return "state";
}

} // namespace sockdoctor::core
