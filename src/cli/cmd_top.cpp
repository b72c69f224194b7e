// `sockdoctor top`: the live view (full screen, or one line / NDJSON object per interval).
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <ostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/top_keys.hpp"
#include "cli/validators.hpp"
#include "collect/live_sampler.hpp"
#include "render/lines.hpp"
#include "render/top_frame.hpp"

namespace sockdoctor::cli {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::uint64_t kMaxCount = 1'000'000'000; // 3 years at the shortest interval

struct TopOptions {
  double interval = 1.0;
  bool lines = false;
  bool json = false;
  std::uint64_t count = 0; // 0: until quit
  bool no_owners = false;
  std::string filter;
  std::string sort = "count";
  int detail_every = 0; // hidden: fixed detail cadence for tests and benchmarks
};

constexpr const char* kTopFooter = R"(
The screen: counts per state with a history sparkline and change per second; the processes
holding the most CLOSE_WAIT / FIN_WAIT2 sockets, with the oldest age and whether the set is a
leak (grows, and the old sockets stay) or churn (sockets come and go); who causes TIME_WAIT; the
destinations using most of their ephemeral ports; the worst current finding.
Keys: q quit, p pause, s sort, / or f filter (port:443 pid:12 state:close-wait proc:nginx),
h help.

When stdout is not a terminal, TERM is dumb, or with --lines, one line per interval:
  <time> total=N <state>=N ... | changed: <state> +D (+NEW/-GONE) | leak: pid P (name) ...
A '~' before a count means it came from kernel counters: on big hosts ESTABLISHED and TIME_WAIT
are listed socket by socket only every Nth interval, so that top stays within a few percent of
one core. --json prints one JSON object per interval (NDJSON, schema_version 1): time, sample,
interval_s, total, states {state: count}, listed_states, changed/appeared/departed {state: n},
close_wait {count, long_lived, growth_per_min, arrivals_per_min, departures_per_min, retained,
window_s, trend}, holders [{pid, comm, close_wait, fin_wait2, oldest_age_s, age_basis,
age_lower_bound, trend}], peers, time_wait [{pid, comm, how, where, time_wait, oldest_age_s}],
destinations [{destination, source, in_use, time_wait, usable, fraction}], findings
[{severity, id, title}], detail_age_s, owners_age_s, owners_denied, filter. pid -1 means the
owner is not known yet, 0 that no process holds the socket.

Examples:
  sockdoctor top                               # full screen, every second
  sockdoctor top -d 5 --filter state:close-wait
  sockdoctor top --lines --count 60 > cw.log   # a minute of timestamped lines
  sockdoctor top --json | jq -c '.close_wait'  # leak/churn verdicts for scripts)";

// ---- terminal ---------------------------------------------------------------------------------

// Everything a signal handler needs to put the terminal back, in async-signal-safe form.
std::atomic<bool> g_screen_active{false};
termios g_saved_termios{};
bool g_termios_saved = false;
volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_resized = 0;

// End any synchronized update, reset attributes, show the cursor, leave the alternate screen.
constexpr char kLeaveScreen[] = "\x1b[?2026l\x1b[0m\x1b[?25h\x1b[?1049l";
constexpr char kEnterScreen[] = "\x1b[?1049h\x1b[?25l\x1b[2J";

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; // the terminal is gone: nothing left to show
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

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

// Raw keys, alternate screen, hidden cursor; undone by the destructor, by restore_terminal() in
// the fatal-signal handlers, and on SIGTERM/SIGINT/SIGHUP by the loop that notices the flag.
// Stop signals and SIGWINCH are blocked outside ppoll(), so worker threads never take them and
// they interrupt nothing but the wait.
class TerminalGuard {
public:
  explicit TerminalGuard(bool keys) {
    if (keys && ::tcgetattr(STDIN_FILENO, &g_saved_termios) == 0) {
      g_termios_saved = true;
      termios raw = g_saved_termios;
      raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL | BRKINT | INPCK | ISTRIP);
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG | IEXTEN);
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
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
  TerminalGuard(const TerminalGuard&) = delete;
  TerminalGuard& operator=(const TerminalGuard&) = delete;
  ~TerminalGuard() {
    restore_terminal();
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  // The mask to wait with: everything the guard blocked is let in.
  const sigset_t& wait_mask() const { return old_mask_; }

private:
  sigset_t old_mask_{};
};

render::TermSize terminal_size() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
    return {ws.ws_col, ws.ws_row};
  return {80, 24};
}

// ---- sampling ---------------------------------------------------------------------------------

core::Result<analyze::TopQuery> initial_query(const TopOptions& o) {
  analyze::TopQuery q;
  auto f = analyze::parse_top_filter(o.filter);
  if (!f) return core::fail("--filter: " + f.error().message);
  q.filter = *f;
  for (auto k : {analyze::SortKey::Count, analyze::SortKey::Age, analyze::SortKey::Growth,
                 analyze::SortKey::Pid})
    if (analyze::sort_name(k) == o.sort) q.sort = k;
  return q;
}

// Says once what the samples could not see (the first note a sample carries).
class NoteOnce {
public:
  std::string take(const Context& ctx, const core::Sample& sample) {
    if (given_) return "";
    auto lines = sample_notes(ctx, sample, false);
    if (lines.empty()) return "";
    given_ = true;
    return lines.front();
  }

private:
  bool given_ = false;
};

// One interval's work: sample, fold into the view, tell the sampler what it cost. Returns the
// sample's note, if one is due.
core::Result<std::string>
step(const Context& ctx, collect::LiveSampler& sampler, analyze::LiveView& live, NoteOnce& notes) {
  const double before = collect::process_cpu_seconds();
  auto sample = sampler.next();
  if (!sample) return tl::unexpected(sample.error());
  const bool complete = sample->is_complete();
  std::string note = notes.take(ctx, *sample);
  live.add_sample(std::move(*sample));
  sampler.record_cost(complete, collect::process_cpu_seconds() - before);
  return note;
}

collect::LiveSampler make_sampler(const Context& ctx, const TopOptions& o) {
  collect::LiveSamplerOptions s;
  s.interval_seconds = o.interval;
  s.owners = !o.no_owners;
  s.fixed_detail_every = o.detail_every;
  return collect::LiveSampler(sampler_options(ctx.global), s);
}

// Called after a sample: fixed rate while samples are quicker than the interval; after a slow one
// (a huge host), a full interval of rest, so that sampling never runs back to back.
SteadyClock::time_point next_deadline(SteadyClock::time_point prev, double interval) {
  const auto step =
      std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(interval));
  const auto now = SteadyClock::now();
  return prev + step < now ? now + step : prev + step;
}

int run_lines(Context& ctx, const TopOptions& o, const analyze::TopQuery& q) {
  collect::LiveSampler sampler = make_sampler(ctx, o);
  NoteOnce notes;
  analyze::LiveView live;
  live.set_query(q);
  const render::LineOptions lo{.interval_seconds = o.interval};
  auto deadline = SteadyClock::now();
  int failures = 0;
  for (std::uint64_t i = 0; o.count == 0 || i < o.count; ++i) {
    if (i > 0) std::this_thread::sleep_until(deadline);
    auto r = step(ctx, sampler, live, notes);
    deadline = next_deadline(deadline, o.interval);
    if (r && !r->empty()) *ctx.err << *r << "\n";
    if (!r) {
      error_line(ctx, "top", r.error().message);
      if (live.empty()) return exit_status_of(r.error());
      if (++failures >= 3) return kExitUnknown;
      continue;
    }
    failures = 0;
    const auto m = live.model();
    *ctx.out << (o.json ? render::format_top_json(m, lo) : render::format_top_line(m, lo));
    ctx.out->flush();
    if (!*ctx.out) return kExitUnknown;
  }
  return kExitOk;
}

// ---- full screen ------------------------------------------------------------------------------

class Screen {
public:
  Screen(Context& ctx, const TopOptions& o, const analyze::TopQuery& q, bool keys)
      : ctx_(ctx), o_(o), keys_(keys), sampler_(make_sampler(ctx, o)) {
    view_.interval_seconds = o.interval;
    view_.query = q;
    view_.filter_text = o.filter;
    live_.set_query(q);
  }

  int run(const TerminalGuard& guard) {
    draw();
    auto deadline = SteadyClock::now();
    std::uint64_t taken = 0;
    while (g_stop_signal == 0) {
      if (!view_.paused && SteadyClock::now() >= deadline) {
        if (auto rc = sample(); rc >= 0) return rc;
        deadline = next_deadline(deadline, o_.interval);
        if (o_.count != 0 && ++taken >= o_.count) return kExitOk;
      }
      if (auto rc = wait(guard, deadline); rc >= 0) return rc;
    }
    return 128 + g_stop_signal;
  }

private:
  // Returns an exit status to stop with, or -1 to go on.
  int sample() {
    auto r = step(ctx_, sampler_, live_, notes_);
    if (r && !r->empty()) view_.message = *r;
    if (!r) {
      if (live_.empty() || ++failures_ >= 3) {
        error_ = r.error().message;
        return live_.empty() ? exit_status_of(r.error()) : kExitUnknown;
      }
      view_.message = "sampling failed: " + r.error().message;
    } else {
      failures_ = 0;
    }
    draw();
    return -1;
  }

  int wait(const TerminalGuard& guard, SteadyClock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - SteadyClock::now());
    timespec ts{static_cast<time_t>(std::max<long long>(left.count(), 0) / 1'000'000'000),
                static_cast<long>(std::max<long long>(left.count(), 0) % 1'000'000'000)};
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    const int n = ::ppoll(&pfd, keys_ ? 1 : 0, view_.paused ? nullptr : &ts, &guard.wait_mask());
    if (g_resized) {
      g_resized = 0;
      draw();
    }
    if (n <= 0) return -1;
    if (pfd.revents & (POLLHUP | POLLERR)) keys_ = false; // stdin closed: signals only
    if (!(pfd.revents & POLLIN)) return -1;
    return read_keys();
  }

  int read_keys() {
    unsigned char buf[64];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
      if (n == 0) keys_ = false;
      return -1;
    }
    // An escape sequence (arrow keys, mouse) arrives in one read: ignore it, but a lone Esc is
    // a key (it cancels the prompt).
    if (buf[0] == 27 && n > 1) return -1;
    for (ssize_t i = 0; i < n; ++i) {
      switch (apply_key(view_, buf[i])) {
      case KeyAction::Quit:
        return kExitOk;
      case KeyAction::QueryChanged:
        live_.set_query(view_.query);
        break;
      default:
        break;
      }
    }
    draw();
    return -1;
  }

  void draw() {
    const auto size = terminal_size();
    const auto frame = render::render_top_frame(live_.model(), view_, size, ctx_.color);
    write_all(STDOUT_FILENO, frame.data(), frame.size());
  }

public:
  const std::string& error() const { return error_; }

private:
  std::string error_;
  Context& ctx_;
  const TopOptions& o_;
  bool keys_;
  collect::LiveSampler sampler_;
  NoteOnce notes_;
  analyze::LiveView live_;
  render::TopViewState view_;
  int failures_ = 0;
};

int run_screen(Context& ctx, const TopOptions& o, const analyze::TopQuery& q) {
  const bool keys = ::isatty(STDIN_FILENO) == 1;
  Screen screen(ctx, o, q, keys);
  int rc = kExitUnknown;
  std::string error;
  {
    TerminalGuard guard(keys);
    try {
      rc = screen.run(guard);
    } catch (const std::exception& e) {
      error = std::string("internal error: ") + e.what();
    }
  } // the terminal is back from here on
  if (!screen.error().empty()) error = screen.error();
  if (!error.empty()) {
    error_line(ctx, "top", error);
    return rc == kExitNoPerm ? rc : kExitUnknown;
  }
  return rc;
}

int run_top(Context& ctx, const TopOptions& o) {
  if (!(o.interval >= 0.1 && o.interval <= 3600)) {
    *ctx.err << "sockdoctor top: -d: expected 0.1 to 3600 seconds\n";
    return kExitUsage;
  }
  auto q = initial_query(o);
  if (!q) {
    error_line(ctx, "top", q.error().message);
    return kExitUsage;
  }
  // A dumb terminal cannot move the cursor: it gets the lines a pipe gets.
  if (o.lines || o.json || !ctx.out_is_tty || ctx.dumb_terminal) return run_lines(ctx, o, *q);
  return run_screen(ctx, o, *q);
}

} // namespace

CommandRunner add_top_command(CLI::App& app, Context&) {
  auto o = std::make_shared<TopOptions>();
  auto* top = app.add_subcommand("top", "Live view: states, CLOSE_WAIT leaks vs churn, TIME_WAIT");
  top->footer(kTopFooter);
  top->add_option("-d,--delay", o->interval, "Seconds between samples (0.1 to 3600)")
      ->capture_default_str();
  top->add_flag("--lines", o->lines, "One timestamped line per interval, even on a terminal");
  top->add_flag("--json", o->json, "One JSON object per interval (NDJSON)");
  top->add_option("-n,--count", o->count, "Stop after N intervals (default: run until quit)")
      ->check(integer_in(1, kMaxCount, "a number of intervals"));
  top->add_flag("--no-owners", o->no_owners, "Skip the process scan (no holders, cheaper)");
  top->add_option("--filter", o->filter,
                  "Start with this filter: port:443 pid:12 state:close-wait proc:nginx");
  top->add_option("--sort", o->sort, "Sort holders by count, age, growth or pid")
      ->check(CLI::IsMember({"count", "age", "growth", "pid"}))
      ->capture_default_str();
  top->add_option("--detail-every", o->detail_every,
                  "List every socket (and scan owners) every N intervals instead of adaptively")
      ->group(""); // for tests and benchmarks
  return [o](Context& ctx) { return run_top(ctx, *o); };
}

} // namespace sockdoctor::cli
