// `sockdoctor trace`: the options and exit statuses of the live stream of TCP state changes;
// the register's loop is trace's.
#include <memory>

#include "cli/commands.hpp"
#include "cli/validators.hpp"
#include "trace/trace.hpp"

namespace sockdoctor::cli {
namespace {

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
could not keep: evicted entries (a full set of the table; raise --entries), events lost with
a full ring (raise --ring-size) — never silently. Ended TIME_WAIT entries the table reused are
counted apart (reclaimed): nothing is lost there.

Examples:
  sockdoctor trace                              # everything, until Ctrl-C
  sockdoctor trace --state close-wait --port 8080
  sockdoctor trace --comm nginx --json | jq -c 'select(.new_state=="time_wait")'
  sockdoctor trace --netns /run/netns/blue --duration 60 --quiet   # only the summary
  sockdoctor trace --pin &                      # also host the register: `ls` then reads exact ages

Privileges: CAP_BPF + CAP_PERFMON (or root); CAP_SYSLOG as well for TIME_WAIT (the kernel
shows tw_timer_handler's address only to it; not needed with --register-only). Without them trace says which is missing and exits 77;
every other command keeps working without eBPF.)";

int exit_status(const trace::Outcome& r) {
  switch (r.status) {
  case trace::Outcome::Status::Done:
    return kExitOk;
  case trace::Outcome::Status::Usage:
    return kExitUsage;
  case trace::Outcome::Status::NotPermitted:
    return kExitNoPerm;
  case trace::Outcome::Status::Failed:
    return kExitUnknown;
  }
  return kExitUnknown;
}

} // namespace

CommandRunner add_trace_command(CLI::App& app, Context&) {
  auto o = std::make_shared<trace::Options>();
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
                "Sockets the register tracks at once (sets of 4, a power of two of them; 64 "
                "bytes of kernel memory each: 8 MiB at the default)")
      ->capture_default_str();
  t->add_option("--ring-size", o->ring, "Ring buffer for transitions (bytes, K or M suffix)")
      ->capture_default_str();
  t->add_flag("--pin", o->pin,
              "Also host the register for other commands (pins its maps on bpffs)");
  t->add_option("--pin-root", o->pin_root, "bpffs directory for --pin")->capture_default_str();
  t->add_flag("--register-only", o->register_only,
              "Stream nothing, only keep the register (with --pin: host it for `ls`, `check`); "
              "as `serve`, it records closing states only, from state changes alone (an "
              "orphan's TIME_WAIT after a FIN_WAIT2 mini-socket gets a bounded age)");
  return [o](Context& ctx) {
    o->root = ctx.global.root;
    o->verbose = ctx.global.verbose;
    o->out = ctx.out;
    o->err = ctx.err;
    return exit_status(trace::run(*o));
  };
}

} // namespace sockdoctor::cli
