// `sockdoctor kill`: the options, help and exit statuses of destroying the sockets `ls` would list
// with the same flags (SOCK_DESTROY, like `ss -K`); selecting, destroying and auditing are kill's.
#include <memory>
#include <sstream>

#include "analyze/kill_knowledge.hpp"
#include "cli/commands.hpp"
#include "cli/filter_options.hpp"
#include "collect/kernel_settings.hpp"
#include "kill/kill.hpp"
#include "render/kill_report.hpp"

namespace sockdoctor::cli {
namespace {

constexpr const char* kKillFooter = R"(
Selection: the flags of `ls`, same names and meaning. Without --state every state but LISTEN is
eligible; a listener is destroyed only when --state names "listen" itself (not through "all").
kill refuses to run with no selection at all. --older-than uses the ages `ls` shows: a lower
bound counts once it reaches the limit, a socket with no known age never matches.

Safety: a dry run unless --yes. Right before each destroy the 4-tuple is looked up again; a
socket with another cookie (the port was reused) or in a state no longer asked for is left
alone, and the kernel re-checks the cookie itself. Results, one per socket: destroyed,
already_gone, stale, state_changed, not_supported (EOPNOTSUPP), not_permitted (EPERM: needs
CAP_NET_ADMIN in the socket's network namespace), failed. Every action is one line in syslog
(LOG_AUTHPRIV) and in --audit-file; with no syslog socket, --audit-file is required.

Exit status: 0 every matched socket is gone (destroyed or already gone), or a dry run;
1 some were left alone (stale, state_changed, not_supported); 77 not permitted; 3 failed.

Examples:
  sockdoctor kill --state close-wait --comm order-sync          # dry run: what would go
  sockdoctor kill --state close-wait --older-than 10m --yes     # destroy old CLOSE_WAITs
  sockdoctor kill --peer 10.1.2.3:5432 --yes --audit-file /var/log/sockdoctor-kill.log)";

// Effects on this kernel, read when --help is printed (not at every start).
std::string kill_footer(const Context& ctx) {
  std::ostringstream out;
  out << kKillFooter << "\n\nWhat destroying does here, per state";
  auto k = collect::read_kernel_settings(ctx.global.root);
  out << (k ? " (kernel " + k->kernel_release + "):\n" : " (kernel settings unreadable):\n");
  render::render_destroy_effects(out, analyze::destroy_effects(k ? *k : core::KernelSettings{}),
                                 96);
  out << "More: sockdoctor explain kill";
  return out.str();
}

int exit_status(const kill::Outcome& r) {
  switch (r.status) {
  case kill::Outcome::Status::Done:
    return kExitOk;
  case kill::Outcome::Status::SomeLeft:
    return kExitWarning;
  case kill::Outcome::Status::Usage:
    return kExitUsage;
  case kill::Outcome::Status::NotPermitted:
    return kExitNoPerm;
  case kill::Outcome::Status::Failed:
    return kExitUnknown;
  }
  return kExitUnknown;
}

} // namespace

CommandRunner add_kill_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<kill::Options>();
  auto* kill = app.add_subcommand(
      "kill", "Destroy matching TCP sockets (SOCK_DESTROY, like ss -K): dry run unless --yes");
  const Context* c = &ctx;
  kill->footer([c] { return kill_footer(*c); });
  add_filter_options(kill, o->filter);
  kill->add_option("--older-than", o->older_than,
                   "Only sockets in their state for at least DURATION (90s, 10m, 2h, 1d)");
  kill->add_option("--netns", o->netns,
                   "Only this network namespace: /run/netns NAME or a path such as "
                   "/proc/PID/ns/net (repeatable; --all-netns for every one)");
  kill->add_flag("-y,--yes", o->yes, "Destroy them (without it: print what would be destroyed)");
  kill->add_option("--rate", o->rate, "At most this many destroys per second")
      ->capture_default_str();
  kill->add_option("--audit-file", o->audit_file,
                   "Also append one audit line per socket to PATH (created 0600)");
  kill->add_flag("-w,--wide", o->wide, "Do not truncate addresses in the dry-run table");
  kill->add_flag("--json", o->json,
                 "One JSON document: {schema_version, dry_run, sockets, "
                 "summary}");
  return [o](Context& run_ctx) {
    o->sampler = sampler_options(run_ctx.global);
    o->verbose = run_ctx.global.verbose;
    o->out = run_ctx.out;
    o->err = run_ctx.err;
    return exit_status(kill::run(*o));
  };
}

} // namespace sockdoctor::cli
