// Bounded, non-blocking whole-file reads (see fs_read.hpp for why each guard exists).
#include "collect/fs_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "collect/unique_fd.hpp"

namespace sockdoctor::collect {
namespace {

// A FIFO opened O_NONBLOCK reads as empty or EAGAIN; either way we are not a regular file's
// reader, so it is refused before the first read.
int open_regular(int dirfd, const char* path, UniqueFd& out) {
  UniqueFd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return errno;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  out = std::move(fd);
  return 0;
}

} // namespace

int read_file_at(int dirfd,
                 const char* path,
                 std::size_t limit,
                 OverLimit over,
                 std::string& out,
                 bool* truncated) {
  out.clear();
  if (truncated != nullptr) *truncated = false;
  UniqueFd fd;
  if (int e = open_regular(dirfd, path, fd); e != 0) return e;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN ? EINVAL : errno;
    if (n == 0) return 0;
    const auto got = static_cast<std::size_t>(n);
    if (out.size() + got > limit) {
      if (over == OverLimit::Fail) return EFBIG;
      out.append(buf, limit - out.size());
      if (truncated != nullptr) *truncated = true;
      return 0;
    }
    out.append(buf, got);
  }
}

core::Result<std::string> read_file(const std::string& path, std::size_t limit, OverLimit over) {
  std::string out;
  const int e = read_file_at(AT_FDCWD, path.c_str(), limit, over, out);
  if (e == 0) return out;
  if (e == EINVAL) return core::fail(core::ErrorCode::Malformed, path + ": not a regular file", e);
  if (e == EFBIG)
    return core::fail(core::ErrorCode::TooLarge,
                      fmt::format("{}: larger than {} bytes", path, limit), e);
  return core::fail(path + ": " + std::strerror(e), e);
}

} // namespace sockdoctor::collect
