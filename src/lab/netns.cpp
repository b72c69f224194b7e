// lab: the private network namespace, sysctls inside it, stop signals, and child processes that
// are killed by PID on every exit path.
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "collect/fs_read.hpp"
#include "core/fs_root.hpp"
#include "lab/lab.hpp"

namespace sockdoctor::lab {
namespace {

std::atomic<int> g_stop{0};

constexpr std::array<int, 3> kStopSignals = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_saved[kStopSignals.size()];

void on_stop(int sig) {
  g_stop.store(sig);
}

std::string errno_text(int e) {
  return std::strerror(e);
}

core::Result<void> bring_lo_up() {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return core::fail("socket: " + errno_text(errno), errno);
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ::ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    rc = ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  const int saved = errno;
  ::close(s);
  if (rc != 0) return core::fail("set lo up: " + errno_text(saved), saved);
  return {};
}

// /proc/PID/cmdline shows the argv area of a process, and a fork shares sockdoctor's: overwrite
// it (within its length, NUL-padded) so that `check` shows what the child is.
void set_cmdline(std::string_view title) {
  auto stat = collect::read_file("/proc/self/stat");
  if (!stat) return;
  const auto paren = stat->rfind(')');
  if (paren == std::string::npos) return;
  std::istringstream in(stat->substr(paren + 2));
  std::string field;
  unsigned long long start = 0, end = 0;
  for (int i = 3; i <= 49 && (in >> field); ++i) {
    if (i == 48) start = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 49) end = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (start == 0 || end <= start + 1) return;
  char* area = reinterpret_cast<char*>(static_cast<std::uintptr_t>(start));
  const std::size_t size = end - start;
  std::memset(area, 0, size);
  std::memcpy(area, title.data(), std::min(title.size(), size - 1));
}

// In the child right after fork(): die with the parent, default signal dispositions.
void child_setup(pid_t parent, const std::string& comm) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0); // the parent died before prctl took effect
  for (int sig : kStopSignals)
    ::signal(sig, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (!comm.empty()) {
    ::prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
    set_cmdline(comm + " (forked by sockdoctor lab)");
  }
}

} // namespace

// ---- signals -------------------------------------------------------------------------------

SignalGuard::SignalGuard() {
  g_stop.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: a blocking call returns EINTR and the loop around it notices the flag. A second
  // signal gets the default action (SA_RESETHAND); the children then die through PDEATHSIG.
  sa.sa_flags = SA_RESETHAND;
  for (std::size_t i = 0; i < kStopSignals.size(); ++i)
    ::sigaction(kStopSignals[i], &sa, &g_saved[i]);
}

SignalGuard::~SignalGuard() {
  for (std::size_t i = 0; i < kStopSignals.size(); ++i)
    ::sigaction(kStopSignals[i], &g_saved[i], nullptr);
}

int stop_signal() {
  return g_stop.load();
}

core::Error interrupted_error() {
  return core::Error{fmt::format("interrupted by signal {}", g_stop.load()), EINTR,
                     core::ErrorCode::Interrupted};
}

bool is_interrupted(const core::Error& e) {
  return e.sys_errno == EINTR && g_stop.load() != 0;
}

core::Result<void> sleep_for(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    if (g_stop.load() != 0) return tl::unexpected(interrupted_error());
    const auto left = std::chrono::duration<double>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) return {};
    ::poll(nullptr, 0, static_cast<int>(std::min(left, 0.1) * 1000) + 1);
  }
}

// ---- namespace and sysctls -----------------------------------------------------------------

core::Result<void> enter_private_netns() {
  if (::unshare(CLONE_NEWNET) != 0)
    return core::fail("unshare(CLONE_NEWNET): " + errno_text(errno), errno);
  return bring_lo_up();
}

core::Result<void> write_sysctl(std::string_view name, std::string_view value) {
  std::string path = "/proc/sys/";
  for (char c : name)
    path += c == '.' ? '/' : c;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC);
  if (fd < 0) return core::fail(fmt::format("{}: {}", path, errno_text(errno)), errno);
  const std::string text = std::string(value) + "\n";
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int saved = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    return core::fail(fmt::format("sysctl {}={}: {}", name, value, errno_text(saved)), saved);
  return {};
}

// ---- LineChannel ---------------------------------------------------------------------------

LineChannel::LineChannel(LineChannel&& o) noexcept
    : fd_(o.fd_), buf_(std::move(o.buf_)), eof_(o.eof_) {
  o.fd_ = -1;
}

LineChannel& LineChannel::operator=(LineChannel&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    buf_ = std::move(o.buf_);
    eof_ = o.eof_;
    o.fd_ = -1;
  }
  return *this;
}

LineChannel::~LineChannel() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineChannel::pump() {
  char tmp[4096];
  for (;;) {
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
      buf_.append(tmp, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) eof_ = true;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) eof_ = true;
    return !eof_;
  }
}

std::optional<std::string> LineChannel::take_line() {
  const auto nl = buf_.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string line = buf_.substr(0, nl);
  buf_.erase(0, nl + 1);
  return line;
}

core::Result<std::optional<std::string>> LineChannel::read_line(double timeout_seconds) {
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  for (;;) {
    if (auto line = take_line()) return line;
    if (eof_) return std::optional<std::string>{};
    if (g_stop.load() != 0) return tl::unexpected(interrupted_error());
    const auto left = std::chrono::duration<double>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) return core::fail("timed out", ETIMEDOUT);
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min(left, 0.1) * 1000) + 1);
    pump();
  }
}

core::Result<void> LineChannel::write_line(std::string_view line) {
  std::string text(line);
  text += '\n';
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::send(fd_, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail("control channel: " + errno_text(errno), errno);
    off += static_cast<std::size_t>(n);
  }
  return {};
}

// ---- Child ---------------------------------------------------------------------------------

core::Result<Child> Child::fork_run(std::string role, std::string comm, Body body) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return core::fail("socketpair: " + errno_text(errno), errno);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return core::fail(fmt::format("fork ({}): {}", role, errno_text(e)), e);
  }
  if (pid == 0) {
    ::close(sv[0]);
    child_setup(parent, comm);
    int rc = 70; // EX_SOFTWARE if the body throws
    try {
      LineChannel io(sv[1]);
      rc = body(io);
    } catch (...) {
      rc = 70;
    }
    ::_exit(rc); // never run the parent's atexit handlers or static destructors
  }
  ::close(sv[1]);
  Child c;
  c.pid_ = pid;
  c.role_ = std::move(role);
  c.chan_ = LineChannel(sv[0]);
  return c;
}

core::Result<Child>
Child::exec(std::string role, std::vector<std::string> argv, const std::string& log_path) {
  if (argv.empty()) return core::fail("exec: empty command");
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return core::fail(fmt::format("fork ({}): {}", role, errno_text(errno)), errno);
  if (pid == 0) {
    child_setup(parent, {});
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0) ::_exit(126);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  Child c;
  c.pid_ = pid;
  c.role_ = std::move(role);
  return c;
}

Child::Child(Child&& o) noexcept
    : pid_(o.pid_), role_(std::move(o.role_)), chan_(std::move(o.chan_)), reaped_(o.reaped_) {
  o.pid_ = 0;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill_now();
    pid_ = o.pid_;
    role_ = std::move(o.role_);
    chan_ = std::move(o.chan_);
    reaped_ = o.reaped_;
    o.pid_ = 0;
  }
  return *this;
}

Child::~Child() {
  kill_now();
}

void Child::kill_now() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

bool Child::alive(int* status) {
  if (pid_ <= 0 || reaped_) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    if (status != nullptr) *status = st;
    return false;
  }
  return r == 0;
}

core::Result<int> Child::wait_exit(double timeout_seconds) {
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  int status = 0;
  while (alive(&status)) {
    if (std::chrono::steady_clock::now() >= end)
      return core::fail(fmt::format("{} (pid {}) did not exit", role_, pid_), ETIMEDOUT);
    auto s = sleep_for(0.02);
    if (!s) return tl::unexpected(s.error());
  }
  return status;
}

core::Result<std::string> Child::expect(std::string_view prefix, double timeout_seconds) {
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  for (;;) {
    const auto left = std::chrono::duration<double>(end - std::chrono::steady_clock::now()).count();
    auto line = chan_.read_line(std::max(left, 0.0));
    if (!line) {
      if (line.error().sys_errno == ETIMEDOUT)
        return core::fail(fmt::format("{} (pid {}) did not report '{}' within {:.0f} s", role_,
                                      pid_, prefix, timeout_seconds),
                          ETIMEDOUT);
      return tl::unexpected(line.error());
    }
    if (!*line)
      return core::fail(
          fmt::format("{} (pid {}) exited before reporting '{}'", role_, pid_, prefix));
    const std::string& text = **line;
    if (text.rfind("error ", 0) == 0)
      return core::fail(fmt::format("{} (pid {}): {}", role_, pid_, text.substr(6)));
    if (text.rfind(prefix, 0) == 0) return text;
  }
}

} // namespace sockdoctor::lab
