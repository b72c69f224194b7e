// `sockdoctor trace`: hosts the eBPF state register and streams its transitions (the ring's
// loop, stop signals, lost events said as they happen) until stopped, then the summary.
#include <fmt/format.h>

#include <poll.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ostream>

#include "analyze/transition_stats.hpp"
#include "collect/bpf_runtime.hpp"
#include "collect/state_register.hpp"
#include "render/escape.hpp"
#include "render/trace_json.hpp"
#include "render/trace_text.hpp"
#include "trace/trace.hpp"

namespace sockdoctor::trace {
namespace {

void error_line(const Options& o, std::string_view message) {
  render::write_notice(*o.err, "sockdoctor trace: ", message);
}

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) {
  g_stop.store(true);
}

// Installs SIGINT/SIGTERM (without SA_RESTART: the ring poll returns EINTR) and ignores
// SIGPIPE (a closed pipe becomes a failed write); restores the old handlers on destruction.
class SignalScope {
public:
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ::sigaction(SIGPIPE, &ign, &old_pipe_);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;
  ~SignalScope() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGPIPE, &old_pipe_, nullptr);
  }

private:
  struct sigaction old_int_ {
  }, old_term_{}, old_pipe_{};
};

core::Result<std::uint32_t> parse_size(const std::string& text) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used, 10);
  } catch (const std::exception&) {
    return core::fail(core::ErrorCode::Usage, "--ring-size: not a size: '" + text + "'");
  }
  const std::string unit = text.substr(used);
  if (unit == "K" || unit == "k")
    v <<= 10;
  else if (unit == "M" || unit == "m")
    v <<= 20;
  else if (!unit.empty())
    return core::fail(core::ErrorCode::Usage, "--ring-size: unknown unit '" + unit + "'");
  if (v < 4096 || v > (1ULL << 30))
    return core::fail(core::ErrorCode::Usage, "--ring-size: between 4096 and 1G");
  return static_cast<std::uint32_t>(v);
}

core::Result<std::uint32_t> parse_netns(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos)
    return static_cast<std::uint32_t>(std::stoul(text));
  struct stat st {};
  if (::stat(text.c_str(), &st) != 0)
    return core::fail(core::ErrorCode::Usage,
                      "--netns: " + text + ": " + std::strerror(errno) +
                          " (an inode number, /run/netns/NAME or /proc/PID/ns/net)");
  return static_cast<std::uint32_t>(st.st_ino);
}

core::Result<analyze::TransitionFilter> build_filter(const Options& o) {
  analyze::TransitionFilter f;
  if (!o.states.empty()) {
    std::uint32_t mask = 0;
    for (const auto& s : o.states) {
      std::string_view bad;
      auto m = core::parse_state_list(s, &bad);
      if (!m)
        return core::fail(core::ErrorCode::Usage,
                          fmt::format("--state: unknown state or group '{}'", bad));
      mask |= *m;
    }
    f.state_mask = mask;
  }
  f.ports = o.ports;
  f.pids = o.pids;
  f.comms = o.comms;
  if (!o.netns.empty()) {
    auto ino = parse_netns(o.netns);
    if (!ino) return tl::unexpected(ino.error());
    f.netns_ino = *ino;
  }
  return f;
}

struct Session {
  const Options& opts;
  analyze::TransitionFilter filter;
  collect::StateRegister reg;
  analyze::TransitionStats stats;
  std::uint64_t received = 0;
  std::uint64_t shown = 0;
  std::uint64_t drops_reported = 0;
  std::string pending; // rendered lines of one poll, written at once

  void on_transition(const core::SocketTransition& t) {
    ++received;
    if (!filter.matches(t) || (opts.count != 0 && shown >= opts.count)) return;
    ++shown;
    stats.add(t);
    if (opts.quiet) return;
    pending += opts.json ? render::format_trace_json_event(t, reg.info())
                         : render::format_trace_row(t, reg.info());
  }

  // Lost events are said when they happen (stderr, at most once per check), not only at exit.
  void report_drops() {
    auto c = reg.counters();
    if (!c || c->ring_drops == drops_reported) return;
    *opts.err << fmt::format("sockdoctor trace: {} events lost, the ring buffer was full "
                             "(--ring-size, now {})\n",
                             c->ring_drops - drops_reported, opts.ring);
    drops_reported = c->ring_drops;
  }

  render::TraceSummaryView summary(double seconds) {
    render::TraceSummaryView v;
    v.pairs = stats.summary();
    v.received = received;
    v.shown = shown;
    v.seconds = seconds;
    if (auto c = reg.counters()) v.counters = *c;
    if (auto n = reg.count_entries()) v.live_entries = *n;
    v.capacity = reg.info().max_entries;
    v.malformed = reg.malformed_events();
    v.time_wait_traced = reg.info().time_wait_traced;
    return v;
  }
};

// The wait of --register-only: a signal ends it early (EINTR), like the ring's poll.
core::Result<int> sleep_ms(int ms) {
  ::poll(nullptr, 0, ms);
  return 0;
}

Outcome stream(Session& s) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(s.opts.duration));
  auto next_drop_check = start + std::chrono::seconds(1);
  const collect::StateRegister::Sink sink = [&s](const core::SocketTransition& t) {
    s.on_transition(t);
  };
  if (!s.opts.json && !s.opts.quiet && !s.opts.no_header)
    *s.opts.out << render::format_trace_header();
  s.opts.out->flush();
  auto status = Outcome::Status::Done;
  while (!g_stop.load() && *s.opts.out) {
    int timeout_ms = 100; // the kernel side wakes us only for a quarter-full ring
    if (s.opts.duration > 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      timeout_ms = static_cast<int>(std::min<long long>(timeout_ms, left.count()));
    }
    auto n = s.opts.register_only ? sleep_ms(timeout_ms) : s.reg.poll(timeout_ms, sink);
    if (!n) {
      error_line(s.opts, n.error().message);
      status = Outcome::Status::Failed;
      break;
    }
    if (!s.pending.empty()) {
      *s.opts.out << s.pending;
      s.pending.clear();
      s.opts.out->flush();
    }
    if (Clock::now() >= next_drop_check) {
      s.report_drops();
      next_drop_check = Clock::now() + std::chrono::seconds(1);
    }
    if (s.opts.count != 0 && s.shown >= s.opts.count) break;
  }
  if (!s.opts.register_only) (void)s.reg.poll(0, sink); // what is already in the ring
  if (!s.pending.empty() && *s.opts.out) *s.opts.out << s.pending;
  s.report_drops();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto view = s.summary(seconds);
  s.reg.stop(); // detach before writing the summary: nothing of ours stays in the kernel
  if (*s.opts.out) {
    *s.opts.out << (s.opts.json ? render::format_trace_json_summary(view)
                                : render::format_trace_summary(view));
    s.opts.out->flush();
  }
  return {status};
}

} // namespace

Outcome run(const Options& o) {
  auto filter = build_filter(o);
  auto ring = parse_size(o.ring);
  if (!filter || !ring) {
    // Quotes what was typed (--state, --netns, --ring-size): escaped like every terminal write.
    error_line(o, (!filter ? filter.error() : ring.error()).message);
    return {Outcome::Status::Usage};
  }
  if (o.entries < 16) {
    *o.err << "sockdoctor trace: --entries must be at least 16\n";
    return {Outcome::Status::Usage};
  }
  collect::set_bpf_verbosity(o.verbose);
  collect::StateRegisterOptions ro;
  ro.max_entries = o.entries;
  ro.stream = !o.register_only;
  ro.tick_clock = o.register_only; // what serve hosts; the stream's durations need the exact clock
  ro.lazy_entries = o.register_only; // the stream reports opening states too
  ro.ring_bytes = *ring;
  ro.filter_netns = filter->netns_ino.value_or(0);
  ro.filter_port = o.ports.size() == 1 ? o.ports.front() : 0;
  ro.pin = o.pin;
  ro.pin_root = o.pin_root;
  ro.root = o.root;
  g_stop.store(false);
  SignalScope signals; // before start: a Ctrl-C during the load must still detach cleanly
  auto reg = collect::StateRegister::start(ro);
  if (!reg) {
    error_line(o, reg.error().message);
    const auto code = reg.error().code;
    return {code == core::ErrorCode::PermissionDenied || code == core::ErrorCode::Unavailable
                ? Outcome::Status::NotPermitted
                : Outcome::Status::Failed};
  }
  const auto& rep = reg->report();
  if (!rep.time_wait_note.empty()) error_line(o, rep.time_wait_note);
  if (!rep.replaced_pin_note.empty()) error_line(o, rep.replaced_pin_note);
  if (!rep.pin_dir.empty()) error_line(o, "register pinned at " + rep.pin_dir);
  if (o.verbose > 0)
    *o.err << fmt::format(
        "sockdoctor trace: register loaded in {:.1f} ms (tw_timer_handler lookup {:.1f} ms), "
        "{} entries\n",
        rep.load_us / 1e3, rep.kallsyms_us / 1e3, o.entries);
  Session s{o, std::move(*filter), std::move(*reg), {}};
  return stream(s);
}

} // namespace sockdoctor::trace
