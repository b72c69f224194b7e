// Names and errno mapping of ErrorCode.
#include "core/error.hpp"

#include <cerrno>

namespace sockdoctor::core {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
  case ErrorCode::Failed:
    return "failed";
  case ErrorCode::Unavailable:
    return "unavailable";
  case ErrorCode::PermissionDenied:
    return "permission_denied";
  case ErrorCode::NotFound:
    return "not_found";
  case ErrorCode::Malformed:
    return "malformed";
  case ErrorCode::TooLarge:
    return "too_large";
  case ErrorCode::Timeout:
    return "timeout";
  case ErrorCode::Interrupted:
    return "interrupted";
  case ErrorCode::Usage:
    return "usage";
  }
  return "failed";
}

ErrorCode error_code_of_errno(int sys_errno) {
  switch (sys_errno) {
  case EPERM:
  case EACCES:
    return ErrorCode::PermissionDenied;
  case ENOENT:
  case ESRCH:
    return ErrorCode::NotFound;
  case ENOSYS:
  case EOPNOTSUPP:
    return ErrorCode::Unavailable;
  case ETIMEDOUT:
    return ErrorCode::Timeout;
  case EINTR:
    return ErrorCode::Interrupted;
  default:
    return ErrorCode::Failed;
  }
}

} // namespace sockdoctor::core
