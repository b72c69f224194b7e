// Every file sockdoctor reads (/proc, /sys, a recorded tree, a --replay file) is read through
// here: bounded in size, never blocking, regular files only.
#pragma once

#include <cstddef>
#include <string>

#include "core/error.hpp"

namespace sockdoctor::collect {

// Bounds by kind of file. /proc/net/tcp holds ~150 bytes per socket, so 1M sockets need ~150 MB.
inline constexpr std::size_t kSmallFileLimit = 1u << 20;     // sysctls, status, sockstat, cgroup
inline constexpr std::size_t kTableFileLimit = 1u << 30;     // /proc/net/tcp{,6}
inline constexpr std::size_t kRecordingFileLimit = 2u << 30; // --replay recordings
inline constexpr std::size_t kCmdlineLimit = 4096;           // what is kept of /proc/PID/cmdline

enum class OverLimit : unsigned char {
  Fail,     // a file larger than the limit is an error (ErrorCode::TooLarge)
  Truncate, // keep the first `limit` bytes and say so through *truncated
};

// Reads `path` relative to `dirfd` (AT_FDCWD for an absolute or cwd-relative path). Opened with
// O_NONBLOCK so a FIFO planted in a recorded tree cannot hang us, and refused unless it is a
// regular file (/proc and /sys files are), so /dev/zero cannot fill memory. Returns 0 or an errno
// (EINVAL: not a regular file, EFBIG: over the limit with OverLimit::Fail); out holds the bytes.
// Allocation-free on the hot path (out's capacity is reused).
int read_file_at(int dirfd,
                 const char* path,
                 std::size_t limit,
                 OverLimit over,
                 std::string& out,
                 bool* truncated = nullptr);

// The same for one path, as a Result whose message names the path.
core::Result<std::string> read_file(const std::string& path,
                                    std::size_t limit = kSmallFileLimit,
                                    OverLimit over = OverLimit::Fail);

} // namespace sockdoctor::collect
