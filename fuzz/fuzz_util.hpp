// Shared by the libFuzzer targets: input views and a contract check that stops the fuzzer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

namespace sockdoctor::fuzz {

inline std::span<const std::byte> bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A documented property of a decoder that does not hold is a finding like a crash: abort, so that
// libFuzzer saves the input (a plain assert would vanish under NDEBUG).
inline void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz contract violated: %s\n", what);
  std::abort();
}

} // namespace sockdoctor::fuzz
