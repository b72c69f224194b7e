// Recoverable errors travel as values: Result<T> carries either T or an Error with a code and
// context, so callers branch on what happened (unavailable, denied, malformed) and never on text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace sockdoctor::core {

enum class ErrorCode : std::uint8_t {
  Failed,           // the operation failed (I/O error, kernel error reply, ...)
  Unavailable,      // not possible on this machine or build (BPF not compiled, kernel lacks it)
  PermissionDenied, // lacks a privilege or capability (EPERM, EACCES)
  NotFound,         // the thing is not there (ENOENT): a process or namespace that vanished
  Malformed,        // input that cannot be decoded
  TooLarge,         // input beyond a documented bound
  Timeout,          // a bounded wait ran out
  Interrupted,      // a stop was requested (signal)
  Usage,            // a bad argument from the user
};

// "failed", "unavailable", "permission_denied", ... (JSON and metric label values).
std::string_view error_code_name(ErrorCode code);

// The code a failed syscall's errno implies (EPERM -> PermissionDenied, ENOENT -> NotFound,
// ENOSYS/EOPNOTSUPP -> Unavailable, ETIMEDOUT -> Timeout, EINTR -> Interrupted, else Failed).
ErrorCode error_code_of_errno(int sys_errno);

struct Error {
  std::string message; // human-readable, with context ("sock_diag AF_INET6: recv: ...")
  int sys_errno = 0;   // errno when a syscall failed, else 0
  ErrorCode code = ErrorCode::Failed;
};

template <typename T> using Result = tl::expected<T, Error>;

// The code follows from errno (Failed when errno is 0).
inline tl::unexpected<Error> fail(std::string message, int sys_errno = 0) {
  return tl::unexpected<Error>(
      Error{std::move(message), sys_errno, error_code_of_errno(sys_errno)});
}

inline tl::unexpected<Error> fail(ErrorCode code, std::string message, int sys_errno = 0) {
  return tl::unexpected<Error>(Error{std::move(message), sys_errno, code});
}

// Prefix an error with the context of the caller ("/proc/net/tcp6: " + inner); keeps the code.
inline Error with_context(std::string context, Error inner) {
  inner.message = std::move(context) + ": " + inner.message;
  return inner;
}

} // namespace sockdoctor::core
