// `sockdoctor top`: the live view's options and exit statuses; the loop and the screen are top's.
#include <memory>
#include <ostream>

#include "cli/commands.hpp"
#include "cli/validators.hpp"
#include "top/top.hpp"

namespace sockdoctor::cli {
namespace {

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

int exit_status(const top::Outcome& r) {
  switch (r.status) {
  case top::Outcome::Status::Done:
    return kExitOk;
  case top::Outcome::Status::Failed:
    return exit_status_of(core::Error{"", 0, r.code});
  case top::Outcome::Status::Interrupted:
    return 128 + r.signal;
  }
  return kExitUnknown;
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
  top::Options t;
  t.sampler = sampler_options(ctx.global);
  t.interval = o.interval;
  // A dumb terminal cannot move the cursor: it gets the lines a pipe gets.
  t.screen = !(o.lines || o.json || !ctx.out_is_tty || ctx.dumb_terminal);
  t.json = o.json;
  t.count = o.count;
  t.owners = !o.no_owners;
  t.detail_every = o.detail_every;
  t.query = *q;
  t.filter_text = o.filter;
  t.verbose = ctx.global.verbose;
  t.out = ctx.out;
  t.err = ctx.err;
  t.color = ctx.color;
  return exit_status(top::run(t));
}

} // namespace

CommandRunner add_top_command(CLI::App& app, Context&) {
  auto o = std::make_shared<TopOptions>();
  auto* cmd = app.add_subcommand("top", "Live view: states, CLOSE_WAIT leaks vs churn, TIME_WAIT");
  cmd->footer(kTopFooter);
  cmd->add_option("-d,--delay", o->interval, "Seconds between samples (0.1 to 3600)")
      ->capture_default_str();
  cmd->add_flag("--lines", o->lines, "One timestamped line per interval, even on a terminal");
  cmd->add_flag("--json", o->json, "One JSON object per interval (NDJSON)");
  cmd->add_option("-n,--count", o->count, "Stop after N intervals (default: run until quit)")
      ->check(integer_in(1, kMaxCount, "a number of intervals"));
  cmd->add_flag("--no-owners", o->no_owners, "Skip the process scan (no holders, cheaper)");
  cmd->add_option("--filter", o->filter,
                  "Start with this filter: port:443 pid:12 state:close-wait proc:nginx");
  cmd->add_option("--sort", o->sort, "Sort holders by count, age, growth or pid")
      ->check(CLI::IsMember({"count", "age", "growth", "pid"}))
      ->capture_default_str();
  cmd->add_option("--detail-every", o->detail_every,
                  "List every socket (and scan owners) every N intervals instead of adaptively")
      ->group(""); // for tests and benchmarks
  return [o](Context& ctx) { return run_top(ctx, *o); };
}

} // namespace sockdoctor::cli
