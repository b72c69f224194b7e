// top's terminal: raw keys, the alternate screen and the signals that must give it back.
#pragma once

#include <csignal>
#include <cstddef>

#include "render/top_frame.hpp"

namespace sockdoctor::top {

// Set by the handlers TerminalGuard installs: a stop signal's number, and a resize.
extern volatile sig_atomic_t g_stop_signal;
extern volatile sig_atomic_t g_resized;

// Raw keys, alternate screen, hidden cursor; undone by the destructor, by the fatal-signal
// handlers, and on SIGTERM/SIGINT/SIGHUP by the loop that notices g_stop_signal. Stop signals
// and SIGWINCH are blocked outside ppoll(), so worker threads never take them and they
// interrupt nothing but the wait.
class TerminalGuard {
public:
  explicit TerminalGuard(bool keys);
  TerminalGuard(const TerminalGuard&) = delete;
  TerminalGuard& operator=(const TerminalGuard&) = delete;
  ~TerminalGuard();
  // The mask to wait with: everything the guard blocked is let in.
  const sigset_t& wait_mask() const { return old_mask_; }

private:
  sigset_t old_mask_{};
};

// All of it to fd, through EINTR; gives up when the terminal is gone.
void write_all(int fd, const char* data, std::size_t size);

// The size of the terminal on stdout; 80x24 when it cannot be asked.
render::TermSize terminal_size();

} // namespace sockdoctor::top
