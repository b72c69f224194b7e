// top's terminal: raw mode, the alternate screen, and signal handlers that restore both.
#include "top/terminal.hpp"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace sockdoctor::top {

volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_resized = 0;

namespace {

// Everything a signal handler needs to put the terminal back, in async-signal-safe form.
std::atomic<bool> g_screen_active{false};
termios g_saved_termios{};
bool g_termios_saved = false;

// End any synchronized update, reset attributes, show the cursor, leave the alternate screen.
constexpr char kLeaveScreen[] = "\x1b[?2026l\x1b[0m\x1b[?25h\x1b[?1049l";
constexpr char kEnterScreen[] = "\x1b[?1049h\x1b[?25l\x1b[2J";

// Async-signal-safe, and safe to call twice.
void restore_terminal() {
  if (!g_screen_active.exchange(false)) return;
  write_all(STDOUT_FILENO, kLeaveScreen, sizeof kLeaveScreen - 1);
  if (g_termios_saved) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
}

void on_fatal_signal(int sig) {
  // A crash anywhere (a rendering bug, an abort): give the terminal back, then die as the
  // signal would have made us (SA_RESETHAND restored the default action).
  restore_terminal();
  ::raise(sig);
}

void on_stop_signal(int sig) {
  g_stop_signal = sig;
}

void on_resize(int) {
  g_resized = 1;
}

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

void enter_raw_mode() {
  if (::tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
  g_termios_saved = true;
  termios raw = g_saved_termios;
  raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL | BRKINT | INPCK | ISTRIP);
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG | IEXTEN);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
}

} // namespace

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; // the terminal is gone: nothing left to show
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

TerminalGuard::TerminalGuard(bool keys) {
  if (keys) enter_raw_mode();
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int s : kFatalSignals)
    ::sigaction(s, &sa, nullptr);
  sa.sa_flags = 0; // no SA_RESTART: the signal must end ppoll()
  sa.sa_handler = on_stop_signal;
  for (int s : kStopSignals)
    ::sigaction(s, &sa, nullptr);
  sa.sa_handler = on_resize;
  ::sigaction(SIGWINCH, &sa, nullptr);
  sigset_t block;
  sigemptyset(&block);
  for (int s : kStopSignals)
    sigaddset(&block, s);
  sigaddset(&block, SIGWINCH);
  ::pthread_sigmask(SIG_BLOCK, &block, &old_mask_);
  g_screen_active = true;
  write_all(STDOUT_FILENO, kEnterScreen, sizeof kEnterScreen - 1);
}

TerminalGuard::~TerminalGuard() {
  restore_terminal();
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

render::TermSize terminal_size() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
    return {ws.ws_col, ws.ws_row};
  return {80, 24};
}

} // namespace sockdoctor::top
