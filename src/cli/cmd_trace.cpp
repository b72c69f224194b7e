// `sockdoctor trace`: a live stream of TCP state changes from the eBPF state register.
#include <fmt/format.h>

#include <poll.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <ostream>

#include "analyze/transition_stats.hpp"
#include "cli/commands.hpp"
#include "cli/validators.hpp"
#include "collect/bpf_runtime.hpp"
#include "collect/state_register.hpp"
#include "render/escape.hpp"
#include "render/trace_json.hpp"
#include "render/trace_text.hpp"

namespace sockdoctor::cli {
namespace {

struct TraceOptions {
  std::vector<std::string> states;
  std::vector<std::uint16_t> ports;
  std::vector<std::int32_t> pids;
  std::vector<std::string> comms;
  std::string netns;
  std::string ring = "4M";
  std::string pin_root = collect::kRegisterPinRoot;
  std::uint32_t entries = collect::kRegisterDefaultEntries;
  double duration = 0;     // seconds; 0 = until stopped
  std::uint64_t count = 0; // stop after this many shown transitions; 0 = no limit
  bool json = false;
  bool quiet = false;
  bool pin = false;
  bool no_header = false;
  bool register_only = false; // host the register, stream nothing (what `serve` will do)
};

constexpr const char* kTraceFooter = R"(
Each line is one state change of a TCP socket, in every network namespace of the host:
  TIME        wall-clock time of the change (ms)
  NETNS       network namespace inode (as in `ls -l /proc/PID/ns/net`)
  LOCAL PEER  the 4-tuple
  TRANSITION  old -> new state. TIME_WAIT is not a kernel state change: the closing socket is
              replaced by a timewait mini-socket, shown as [tw]; [tw restart] when the kernel
              restarts its 60 s timer, [expired] / [killed] when it goes away
  IN-OLD      time spent in the old state; "?" when the register did not see it begin (the
              socket is older than the trace)
  OWNER       pid/comm of the process that connected (connected), listened (listened), owns
              the listener of an accepted socket (listener's), or called close()/shutdown()
              (closed). Learned only in that process's own system call, never from the pid
              that happens to run the kernel's packet processing; "-" when unknown. For
              TIME_WAIT it is the process that closed first.

On exit (Ctrl-C, SIGTERM, a closed pipe, --duration, --count) a summary gives the transitions
per state pair with percentiles of the time spent in the old state, and what the register
could not keep: evicted entries (a full table; raise --entries), events lost with a full ring
(raise --ring-size) — never silently.

Examples:
  sockdoctor trace                              # everything, until Ctrl-C
  sockdoctor trace --state close-wait --port 8080
  sockdoctor trace --comm nginx --json | jq -c 'select(.new_state=="time_wait")'
  sockdoctor trace --netns /run/netns/blue --duration 60 --quiet   # only the summary
  sockdoctor trace --pin &                      # also host the register: `ls` then reads exact ages

Privileges: CAP_BPF + CAP_PERFMON (or root); CAP_SYSLOG as well for TIME_WAIT (the address of
tw_timer_handler in /proc/kallsyms). Without them trace says which is missing and exits 77;
every other command keeps working without eBPF.)";

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

core::Result<analyze::TransitionFilter> build_filter(const TraceOptions& o) {
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
  Context& ctx;
  const TraceOptions& opts;
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
    *ctx.err << fmt::format("sockdoctor trace: {} events lost, the ring buffer was full "
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

int stream(Session& s) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(s.opts.duration));
  auto next_drop_check = start + std::chrono::seconds(1);
  const collect::StateRegister::Sink sink = [&s](const core::SocketTransition& t) {
    s.on_transition(t);
  };
  if (!s.opts.json && !s.opts.quiet && !s.opts.no_header)
    *s.ctx.out << render::format_trace_header();
  s.ctx.out->flush();
  int rc = kExitOk;
  while (!g_stop.load() && *s.ctx.out) {
    int timeout_ms = 100; // the kernel side wakes us only for a quarter-full ring
    if (s.opts.duration > 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      timeout_ms = static_cast<int>(std::min<long long>(timeout_ms, left.count()));
    }
    auto n = s.opts.register_only ? sleep_ms(timeout_ms) : s.reg.poll(timeout_ms, sink);
    if (!n) {
      error_line(s.ctx, "trace", n.error().message);
      rc = kExitUnknown;
      break;
    }
    if (!s.pending.empty()) {
      *s.ctx.out << s.pending;
      s.pending.clear();
      s.ctx.out->flush();
    }
    if (Clock::now() >= next_drop_check) {
      s.report_drops();
      next_drop_check = Clock::now() + std::chrono::seconds(1);
    }
    if (s.opts.count != 0 && s.shown >= s.opts.count) break;
  }
  if (!s.opts.register_only) (void)s.reg.poll(0, sink); // what is already in the ring
  if (!s.pending.empty() && *s.ctx.out) *s.ctx.out << s.pending;
  s.report_drops();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto view = s.summary(seconds);
  s.reg.stop(); // detach before writing the summary: nothing of ours stays in the kernel
  if (*s.ctx.out) {
    *s.ctx.out << (s.opts.json ? render::format_trace_json_summary(view)
                               : render::format_trace_summary(view));
    s.ctx.out->flush();
  }
  return rc;
}

int run_trace(Context& ctx, const TraceOptions& o) {
  auto filter = build_filter(o);
  auto ring = parse_size(o.ring);
  if (!filter || !ring) {
    // Quotes what was typed (--state, --netns, --ring-size): escaped like every terminal write.
    error_line(ctx, "trace", (!filter ? filter.error() : ring.error()).message);
    return kExitUsage;
  }
  if (o.entries < 16) {
    *ctx.err << "sockdoctor trace: --entries must be at least 16\n";
    return kExitUsage;
  }
  collect::set_bpf_verbosity(ctx.global.verbose);
  collect::StateRegisterOptions ro;
  ro.max_entries = o.entries;
  ro.stream = !o.register_only;
  ro.tick_clock = o.register_only; // what serve hosts; the stream's durations need the exact clock
  ro.ring_bytes = *ring;
  ro.filter_netns = filter->netns_ino.value_or(0);
  ro.filter_port = o.ports.size() == 1 ? o.ports.front() : 0;
  ro.pin = o.pin;
  ro.pin_root = o.pin_root;
  ro.root = ctx.global.root;
  g_stop.store(false);
  SignalScope signals; // before start: a Ctrl-C during the load must still detach cleanly
  auto reg = collect::StateRegister::start(ro);
  if (!reg) {
    error_line(ctx, "trace", reg.error().message);
    const auto code = reg.error().code;
    return code == core::ErrorCode::PermissionDenied || code == core::ErrorCode::Unavailable
               ? kExitNoPerm
               : kExitUnknown;
  }
  const auto& rep = reg->report();
  if (!rep.time_wait_note.empty()) error_line(ctx, "trace", rep.time_wait_note);
  if (!rep.replaced_pin_note.empty()) error_line(ctx, "trace", rep.replaced_pin_note);
  if (!rep.pin_dir.empty()) error_line(ctx, "trace", "register pinned at " + rep.pin_dir);
  if (ctx.global.verbose > 0)
    *ctx.err << fmt::format("sockdoctor trace: register loaded in {:.1f} ms (kallsyms {:.1f} ms), "
                            "{} entries\n",
                            rep.load_us / 1e3, rep.kallsyms_us / 1e3, o.entries);
  Session s{ctx, o, std::move(*filter), std::move(*reg), {}};
  return stream(s);
}

} // namespace

CommandRunner add_trace_command(CLI::App& app, Context&) {
  auto o = std::make_shared<TraceOptions>();
  auto* t =
      app.add_subcommand("trace", "Live TCP state changes with time in state and owner (eBPF)");
  t->footer(kTraceFooter);
  t->add_option("-s,--state", o->states,
                "Only transitions from or to these states (comma list, repeatable)");
  t->add_option("--port", o->ports, "Only sockets whose local or peer port is PORT (repeatable)")
      ->check(integer_in(1, 65535, "a port"));
  t->add_option("-p,--pid", o->pids, "Only sockets owned by this PID (repeatable)")
      ->check(integer_in(1, 4194304, "a PID")); // PID_MAX_LIMIT
  t->add_option("-c,--comm", o->comms, "Only sockets owned by a process with this name");
  t->add_option("--netns", o->netns,
                "Only this network namespace: inode, /run/netns/NAME or /proc/PID/ns/net");
  t->add_flag("--json", o->json, "NDJSON: one object per transition, a summary object at exit");
  t->add_flag("-q,--quiet", o->quiet, "No lines per transition, only the summary at exit");
  t->add_flag("-H,--no-header", o->no_header, "Omit the header line");
  t->add_option("--duration", o->duration, "Stop after SECONDS (default: until Ctrl-C)")
      ->check(CLI::NonNegativeNumber);
  t->add_option("--count", o->count, "Stop after N shown transitions")
      ->check(integer_in(1, UINT64_MAX, "a number of transitions"));
  t->add_option("--entries", o->entries,
                "Sockets the register tracks at once (LRU, 120 bytes of kernel memory each: "
                "15 MiB at the default)")
      ->capture_default_str();
  t->add_option("--ring-size", o->ring, "Ring buffer for transitions (bytes, K or M suffix)")
      ->capture_default_str();
  t->add_flag("--pin", o->pin,
              "Also host the register for other commands (pins its maps on bpffs)");
  t->add_option("--pin-root", o->pin_root, "bpffs directory for --pin")->capture_default_str();
  t->add_flag("--register-only", o->register_only,
              "Stream nothing, only keep the register (with --pin: host it for `ls`, `check`)");
  return [o](Context& ctx) { return run_trace(ctx, *o); };
}

} // namespace sockdoctor::cli
