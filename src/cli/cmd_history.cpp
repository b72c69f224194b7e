// `sockdoctor history`: when did the stuck sockets start and how fast do they grow, from the
// database `serve` records into. `history record` (hidden) is a small recorder for tests and
// demos until serve runs: it samples this host every --interval seconds into the same database
// through the same store::HistoryWriter.
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>

#include "cli/commands.hpp"
#include "cli/validators.hpp"
#include "core/duration.hpp"
#include "render/history.hpp"
#include "store/history_reader.hpp"
#include "store/history_trends.hpp"
#include "store/recorder.hpp"

namespace sockdoctor::cli {
namespace {

struct HistoryOptions {
  std::string db = store::kDefaultHistoryPath;
  std::string since = "24h";
  std::string holder;
  bool json = false;
  std::string svg;
  int width = 0; // 0: the terminal's, else 100
  // history record
  double interval = 10;
  std::optional<std::uint64_t> count; // none: until SIGINT / SIGTERM
  std::string retention = "14d";
  bool no_owners = false;
};

constexpr const char* kHistoryFooter = R"(
Reads the history database that `sockdoctor serve` records every --interval seconds (per-state
counts, the processes holding CLOSE_WAIT / FIN_WAIT2 sockets, port budgets, findings) and says,
per holder (process name):
  RISING SINCE  the onset: the first interval of the current rise of its CLOSE_WAIT count, i.e.
                the interval after the last one at which the count was at its lowest in the
                window (the true start lies within one interval before it). "<=" when the
                window starts on that low: the rise may be older, widen --since.
  GROWTH/H      CLOSE_WAIT sockets per hour, least squares over the current rise (from that
                low point); over the whole window when the count is not rising.
  pid A -> B    the holder's processes were all replaced (a restart) at that time.
and when the recorder itself (re)started, and gaps (more than 3 of its intervals without a
record: it was stopped, or the machine was off). Times are UTC. The chart shows the host's
CLOSE_WAIT count, or the holder's with --holder; --svg writes the same chart as a
self-contained picture.

--json: {schema_version, database, history, holder_filter, window {start, end, since,
intervals, interval_s}, recorded {intervals, first, last}, recorder {restarts, runs [{started,
pid, interval_s, version, restart}], gaps [{from, to}]}, states {state: count}, holders [{name,
process, pids, close_wait, fin_wait2, peak_close_wait, oldest_age_s, first_seen, last_seen,
onset, onset_at_window_start, growth_per_hour, rising, restarts [{time, before, after}],
close_wait_series (with --holder)}], findings [{id, severity, title, pid, count}], series
{time, close_wait}}. Times are Unix seconds.

Exit status: 0 (also when nothing is recorded yet: it says so), 3 when the database is missing,
not a sockdoctor history database or of a newer schema, 77 when it may not be read, 64 usage.

Examples:
  sockdoctor history                              # the last 24 hours of /var/lib/sockdoctor
  sockdoctor history --since 2h --holder java     # one process name, the last two hours
  sockdoctor history --json | jq '.holders[] | select(.rising) | {name, onset, growth_per_hour}'
  sockdoctor history --since 7d --svg leak.svg    # the chart as a picture)";

volatile sig_atomic_t g_stop = 0;
void on_stop(int) {
  g_stop = 1;
}

int terminal_width(const Context& ctx, int requested) {
  if (requested > 0) return requested;
  winsize ws{};
  if (ctx.out_is_tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
    return ws.ws_col;
  return 100;
}

double now_unix() {
  return store::unix_seconds(std::chrono::system_clock::now());
}

int run_history(Context& ctx, const HistoryOptions& o) {
  store::HistoryQuery q{.every_detail = false};
  if (o.since != "all") q.since = now_unix() - *core::parse_duration(o.since);
  auto h = store::read_history(o.db, q);
  if (!h) {
    const auto& e = h.error();
    error_line(ctx, "history",
               e.code == core::ErrorCode::NotFound
                   ? e.message + " (no history recorded here; `sockdoctor serve --db PATH` "
                                 "records it)"
                   : e.message);
    return e.code == core::ErrorCode::PermissionDenied ? kExitNoPerm : kExitUnknown;
  }
  const auto trends = store::history_trends(*h, {.holder = o.holder});
  render::HistoryRenderOptions ro{
      .holder = o.holder, .now = now_unix(), .width = terminal_width(ctx, o.width)};
  if (!o.svg.empty()) {
    std::ofstream svg(o.svg, std::ios::trunc);
    const auto s = render::chart_series(trends, ro);
    const std::string subtitle = s.time.empty()
                                     ? "no history"
                                     : render::utc_time(s.time.front()) + " to " +
                                           render::utc_time(s.time.back()) + ", " + h->path;
    render::render_history_svg(svg, s, subtitle);
    svg.close();
    if (!svg) {
      error_line(ctx, "history", o.svg + ": cannot write the SVG file");
      return kExitUnknown;
    }
  }
  if (o.json)
    render::render_history_json(*ctx.out, *h, trends, ro);
  else
    render::render_history_text(*ctx.out, *h, trends, ro);
  ctx.out->flush();
  return *ctx.out ? kExitOk : kExitUnknown;
}

int run_record(Context& ctx, const HistoryOptions& o) {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sa.sa_flags = SA_RESTART; // a sample under way completes and is recorded; then the loop ends
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM})
    ::sigaction(s, &sa, nullptr);
  store::RecorderOptions r;
  r.db = o.db;
  r.writer.interval_s = o.interval;
  r.writer.retention_s = *core::parse_duration(o.retention);
  r.count = o.count;
  r.sampler = sampler_options(ctx.global);
  r.owners = !o.no_owners;
  if (auto done = store::record_every(r, [] { return g_stop != 0; }); !done) {
    error_line(ctx, "history record", done.error().message);
    return kExitUnknown;
  }
  return kExitOk;
}

} // namespace

CommandRunner add_history_command(CLI::App& app, Context&) {
  auto o = std::make_shared<HistoryOptions>();
  auto* h = app.add_subcommand("history", "When stuck sockets started and how fast they grow, "
                                          "from what `serve` recorded");
  h->footer(kHistoryFooter);
  h->add_option("--db", o->db, "The history database")->capture_default_str();
  h->add_option("--since", o->since, "How far back: 90s, 30m, 2h, 7d, 1h30m, or all")
      ->check(duration_or_all("90s, 30m, 2h, 7d, 1h30m"))
      ->capture_default_str();
  h->add_option("--holder", o->holder, "Only processes with this name (comm)");
  h->add_flag("--json", o->json, "One JSON document (members below)");
  h->add_option("--svg", o->svg, "Also write the chart to FILE as a self-contained SVG picture");
  h->add_option("--width", o->width, "Columns for the text (default: the terminal's, else 100)")
      ->check(CLI::Range(40, 1000));
  auto* rec = h->add_subcommand("record", "Record this host every --interval seconds (for tests "
                                          "and demos; serve records the same)");
  rec->group(""); // hidden: `serve --db` is the recorder people run
  rec->add_option("--interval", o->interval, "Seconds between samples")
      ->check(CLI::Range(0.01, 86400.0));
  rec->add_option("--count", o->count,
                  "Stop after this many intervals (default: at SIGINT or "
                  "SIGTERM)");
  rec->add_option("--retention", o->retention, "Delete intervals older than this")
      ->check(duration_or_all("90s, 30m, 2h, 7d, 1h30m"));
  rec->add_flag("--no-owners", o->no_owners, "Skip the process scan");
  return [o, rec](Context& ctx) {
    if (o->retention == "all") o->retention = "0";
    return rec->parsed() ? run_record(ctx, *o) : run_history(ctx, *o);
  };
}

} // namespace sockdoctor::cli
