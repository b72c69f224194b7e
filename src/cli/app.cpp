// Composition root: global options, subcommand dispatch, exit statuses.
#include "cli/app.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "render/escape.hpp"

namespace sockdoctor::cli {
namespace {

constexpr const char* kFooter = R"(
Commands:
  check (default)  diagnose this host: who holds stuck sockets, since when, why, what to do
  ls               list TCP sockets with owners, like `ss -tanp` but fast at 1M sockets
  explain [TOPIC]  kernel settings that govern stuck sockets, and the myths they correct
  top              live view: counts, leaks versus churn, port budgets (--lines for logs)
  lab SCENARIO     recreate close-wait, keepalive, time-wait, fin-wait-2, kill on loopback (root)
  trace            live TCP state changes with time in state and owner (eBPF, CAP_BPF+PERFMON)
  kill             destroy matching sockets (like ss -K): dry run unless --yes, audited
  serve            Prometheus exporter: /metrics on 127.0.0.1:10188
  history          when stuck sockets started and how fast they grow (what serve recorded)

Examples:
  sockdoctor                          # diagnose this host (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)
  sockdoctor ls --state close-wait    # every CLOSE_WAIT socket and the process holding it
  sockdoctor ls --json --port 443     # JSON for scripts
  sockdoctor explain time-wait        # what TIME_WAIT costs here, and what tcp_tw_reuse really does
  sockdoctor top --lines -d 5         # one timestamped line every 5 s (NDJSON with --json)
  sockdoctor lab close-wait           # the classic nginx experiment, diagnosed live

Privileges: listing sockets needs none. Naming the owners of other users' sockets needs root
(or CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH); without it sockdoctor says what it could not see.
Usage errors exit with 64.)";

bool terminal_is_dumb() {
  const char* term = std::getenv("TERM");
  return term != nullptr && std::strcmp(term, "dumb") == 0;
}

bool color_wanted(bool tty) {
  if (!tty) return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && no_color[0] != '\0') return false;
  return !terminal_is_dumb();
}

void add_global_options(CLI::App& app, GlobalOptions& g) {
  app.add_option(
         "--source", g.source,
         "Where sockets come from: auto (the eBPF socket iterator on big hosts when "
         "permitted, else sock_diag netlink), netlink, bpf (iter/tcp), proc (/proc/net/tcp)")
      ->check(CLI::IsMember({"auto", "netlink", "bpf", "proc"}))
      ->capture_default_str();
  app.add_option("--replay", g.replay_file,
                 "Decode sock_diag replies recorded with --record (or `ss -D`) instead of asking "
                 "the kernel")
      ->check(CLI::ExistingFile);
  app.add_option("--record", g.record_file,
                 "Also write the raw sock_diag replies to FILE (a test fixture)");
  app.add_option("--proc-root", g.root.proc, "Read /proc from this directory (recorded trees)")
      ->capture_default_str();
  app.add_option("--sys-root", g.root.sys, "Read /sys from this directory")->capture_default_str();
  app.add_option("--pods-log-root", g.root.pods_log,
                 "The kubelet's pod log directories (NAMESPACE_NAME_UID/CONTAINER/): pod names "
                 "without an API server")
      ->capture_default_str();
  app.add_flag("--all-netns", g.all_netns, "Look at every network namespace on the host");
  app.add_option(
         "--owner-scan", g.owner_scan,
         "How owners are found: auto (eBPF iterator on big hosts when permitted, else /proc), "
         "bpf, proc")
      ->check(CLI::IsMember({"auto", "bpf", "proc"}))
      ->capture_default_str();
  app.add_option("--register", g.register_pin_root,
                 "Read exact state ages and TIME_WAIT owners from the eBPF state register pinned "
                 "in DIR by `sockdoctor serve` or `trace --pin`, when one runs (off: never)")
      ->capture_default_str();
  app.add_flag("-v,--verbose", g.verbose, "Say more about how the data was obtained (repeatable)");
}

// stdout is a pipe or socket whose reading end is closed.
bool reader_went_away() {
  struct stat st {};
  if (::fstat(STDOUT_FILENO, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
    return false;
  pollfd p{STDOUT_FILENO, POLLOUT, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

// Output that did not reach stdout (a full disk, /dev/full) means the command did not complete,
// whatever it found: one line says so and the status is UNKNOWN. Commands flush last before they
// return, so when the stream already failed errno still holds that write's error.
int finish_output(const Context& ctx, int rc) {
  if (*ctx.out) errno = 0;
  ctx.out->flush();
  if (*ctx.out) return rc;
  const int e = errno;
  // A reader that went away (`| head`) chose to stop reading: not an error (trace ignores
  // SIGPIPE to end cleanly on it). Polled, because errno may have moved on since the write.
  if (e == EPIPE || reader_went_away()) return rc;
  error_line(ctx, "",
             e != 0 ? std::string("write error on standard output: ") + std::strerror(e)
                    : std::string("write error on standard output"));
  return kExitUnknown;
}

int parse_and_run(Context& ctx, int argc, char** argv) {
  CLI::App app{
      "sockdoctor: which process holds stuck TCP sockets, since when, why, and what to do.",
      "sockdoctor"};
  app.footer(kFooter);
  app.require_subcommand(0, 1);
  app.fallthrough();
  app.set_version_flag("--version", "sockdoctor 0.1.0");
  add_global_options(app, ctx.global);

  std::map<std::string, CommandRunner> runners;
  runners["check"] = add_check_command(app, ctx);
  runners["ls"] = add_ls_command(app, ctx);
  runners["explain"] = add_explain_command(app, ctx);
  runners["top"] = add_top_command(app, ctx);
  runners["lab"] = add_lab_command(app, ctx);
  runners["trace"] = add_trace_command(app, ctx);
  runners["kill"] = add_kill_command(app, ctx);
  runners["serve"] = add_serve_command(app, ctx);
  runners["history"] = add_history_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, *ctx.out, *ctx.err) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, *ctx.out, *ctx.err) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, *ctx.out, *ctx.err) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::ParseError& e) {
    // The message quotes what was typed (`--state $'\e[2J'`): escaped like every terminal write.
    render::write_notice(*ctx.err, "", e.what());
    *ctx.err << "Run with --help for more information.\n";
    return kExitUsage;
  }
  if (!ctx.global.replay_file.empty() && ctx.global.source == "proc") {
    error_line(ctx, "", "--replay and --source proc exclude each other");
    return kExitUsage;
  }
  const auto chosen = app.get_subcommands();
  const std::string name = chosen.empty() ? "check" : chosen.front()->get_name();
  try {
    return runners.at(name)(ctx);
  } catch (const std::bad_alloc&) {
    error_line(ctx, "", "out of memory");
    return kExitUnknown;
  }
}

} // namespace

int run(int argc, char** argv) {
  Context ctx;
  ctx.out = &std::cout;
  ctx.err = &std::cerr;
  ctx.out_is_tty = ::isatty(STDOUT_FILENO) == 1;
  ctx.color = color_wanted(ctx.out_is_tty);
  ctx.dumb_terminal = terminal_is_dumb();
  return finish_output(ctx, parse_and_run(ctx, argc, argv));
}

} // namespace sockdoctor::cli
