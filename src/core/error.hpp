// Recoverable errors travel as values: Result<T> carries either T or an Error with context.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace sockdoctor::core {

struct Error {
  std::string message; // human-readable, with context ("sock_diag AF_INET6: recv: ...")
  int sys_errno = 0;   // errno when a syscall failed, else 0
};

template <typename T> using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(std::string message, int sys_errno = 0) {
  return tl::unexpected<Error>(Error{std::move(message), sys_errno});
}

// Prefix an error with the context of the caller ("/proc/net/tcp6: " + inner).
inline Error with_context(std::string context, Error inner) {
  inner.message = std::move(context) + ": " + inner.message;
  return inner;
}

} // namespace sockdoctor::core
