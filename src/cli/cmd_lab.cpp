// `sockdoctor lab SCENARIO`: the subcommand's options and exit statuses; the scenarios are lab's.
#include <memory>

#include "cli/commands.hpp"
#include "lab/run.hpp"

namespace sockdoctor::cli {
namespace {

constexpr const char* kLabFooter = R"(
Exit status: 0 every check passed, 1 the kernel did not behave as described, 3 the scenario could
not run, 77 not root (or --server nginx without nginx), 64 usage, 128+N interrupted by signal N.

JSON (--json, schema_version 1): scenario, fast, kernel_release, netns_inode, server,
server_detail, sysctls, setup, processes [{role, pid, comm}], ends [{key, label, description}],
timeline [{t, time, states {end: snake_case state | "gone" | "close"}, counts, events [{kind,
text}]}], diagnoses [{t, time, label, findings (as `check --json`), summary}], checks [{id,
expectation, observed, ok}], lesson [{text, corrects: null | {claim, source}}], passed, error,
duration_seconds.

Examples:
  sudo sockdoctor lab --list
  sudo sockdoctor lab close-wait                 # the article's experiment, with nginx if installed
  sudo sockdoctor lab time-wait --fast --json    # what the tests run)";

int exit_status(const lab::Outcome& r) {
  using Status = lab::Outcome::Status;
  switch (r.status) {
  case Status::Passed:
    return kExitOk;
  case Status::ChecksFailed:
    return kExitWarning;
  case Status::CouldNotRun:
    return kExitUnknown;
  case Status::Usage:
    return kExitUsage;
  case Status::NotPermitted:
    return kExitNoPerm;
  case Status::Interrupted:
    return 128 + r.signal;
  }
  return kExitUnknown;
}

} // namespace

CommandRunner add_lab_command(CLI::App& app, Context&) {
  auto o = std::make_shared<lab::Options>();
  auto* cmd = app.add_subcommand(
      "lab", "Recreate stuck sockets in a private network namespace and watch sockdoctor "
             "diagnose them (root)");
  cmd->footer(kLabFooter);
  cmd->add_option("scenario", o->scenario, "close-wait, keepalive, time-wait, fin-wait-2 or kill")
      ->check(CLI::IsMember(lab::scenario_names()));
  cmd->add_flag("--list", o->list, "Describe the scenarios");
  cmd->add_flag("--fast", o->fast, "Shorter timeouts (what the tests run)");
  cmd->add_flag("--json", o->json,
                "One JSON document at the end: timeline, diagnoses, checks, lesson");
  cmd->add_option("--server", o->server,
                  "close-wait's HTTP server: nginx, builtin, or auto "
                  "(nginx when installed)")
      ->check(CLI::IsMember({"auto", "nginx", "builtin"}))
      ->capture_default_str();
  return [o](Context& ctx) {
    o->out = ctx.out;
    o->err = ctx.err;
    o->color = ctx.color;
    return exit_status(lab::run(*o));
  };
}

} // namespace sockdoctor::cli
