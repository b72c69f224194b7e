// `sockdoctor check` (also plain `sockdoctor`): findings, most severe first; exit status by
// severity.
#include <memory>
#include <ostream>
#include <string>

#include "analyze/host_model.hpp"
#include "cli/commands.hpp"
#include "cli/validators.hpp"
#include "render/findings_json.hpp"
#include "render/findings_text.hpp"

namespace sockdoctor::cli {
namespace {

struct CheckOptions {
  double min_age = 60;
  bool json = false;
  bool no_owners = false;
};

constexpr const char* kCheckFooter = R"(
What is checked:
  CLOSE_WAIT held by a process (or waiting unaccepted in a listener's queue) longer than
  --min-age; ephemeral ports toward one destination blocked by TIME_WAIT (>= 50% warning,
  >= 90% critical); TIME_WAIT entries vs tcp_max_tw_buckets; FIN_WAIT2 half-closed and held by
  a process (no timeout) or orphaned; closes stuck on unacknowledged data; orphans vs
  tcp_max_orphans; full accept queues.

Exit status: 0 OK (info notes only), 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no snapshot), 64 usage.

Examples:
  sockdoctor check                  # the report (plain `sockdoctor` does the same)
  sockdoctor check --min-age 10     # also report CLOSE_WAIT sockets older than 10 s
  sockdoctor check --json | jq '.findings[] | {severity, title}')";

int exit_code(analyze::Severity worst) {
  switch (worst) {
  case analyze::Severity::Critical:
    return kExitCritical;
  case analyze::Severity::Warning:
    return kExitWarning;
  case analyze::Severity::Info:
    return kExitOk;
  }
  return kExitUnknown;
}

// One sample and its model. `aggregate`: let the socket iterator count what no rule reads one by
// one (ESTABLISHED sockets with an fd, TIME_WAIT entries) instead of listing it.
core::Result<analyze::HostModel>
sample_and_analyse(Context& ctx, const CheckOptions& o, bool aggregate) {
  collect::SampleRequest req;
  req.owners = !o.no_owners;
  req.aggregate = aggregate;
  auto sample = take_sample(ctx, req, /*quiet_owners=*/true); // the report's summary says it
  if (!sample) return tl::unexpected(sample.error());
  const auto* kernel_status = sample->collector("kernel");
  if (!sample->kernel) {
    // The rules still work with the kernel defaults; say that the numbers are assumed.
    error_line(ctx, "check",
               kernel_status->error->message + "; assuming kernel defaults for sysctls");
    sample->kernel = core::KernelSettings{};
  }
  if (ctx.global.verbose > 0)
    for (const auto& p : kernel_status->notes)
      error_line(ctx, "check", p);
  if (ctx.global.all_netns && ctx.global.verbose > 0)
    *ctx.err << "sockdoctor check: sysctls and counters are those of sockdoctor's own network "
                "namespace\n";

  analyze::DiagnoseOptions opt;
  opt.min_age_seconds = o.min_age;
  analyze::HostModelOptions mo;
  mo.diagnose = opt;
  mo.sections = false; // findings only: no holders, TIME_WAIT causes or workload table
  mo.workloads = false;
  return analyze::build_host_model(std::make_shared<const core::Sample>(std::move(*sample)), mo);
}

int run_check(Context& ctx, const CheckOptions& o) {
  auto model = sample_and_analyse(ctx, o, /*aggregate=*/true);
  if (model && model->needs_records) {
    // A port budget near its limit: the port rule reads its sockets one by one.
    if (ctx.global.verbose > 0)
      error_line(ctx, "check",
                 "a port budget needs its sockets listed: sampling again without the summary");
    model = sample_and_analyse(ctx, o, /*aggregate=*/false);
  }
  if (!model) {
    error_line(ctx, "check", model.error().message);
    return exit_status_of(model.error());
  }
  const auto& diagnosis = model->diagnosis;
  if (o.json)
    render::render_findings_json(*ctx.out, diagnosis);
  else
    render::render_findings_text(*ctx.out, diagnosis, {.color = ctx.color});
  ctx.out->flush();
  if (!*ctx.out) return kExitUnknown;
  return exit_code(diagnosis.worst());
}

} // namespace

CommandRunner add_check_command(CLI::App& app, Context&) {
  auto o = std::make_shared<CheckOptions>();
  auto* check = app.add_subcommand("check", "Diagnose this host (the default command)");
  check->footer(kCheckFooter);
  check
      ->add_option("--min-age", o->min_age,
                   "Report CLOSE_WAIT and half-closed FIN_WAIT2 sockets older than SECONDS")
      ->check(non_negative_seconds())
      ->capture_default_str();
  check->add_flag("--json", o->json, "One JSON document: {schema_version, findings, summary}");
  check->add_flag("--no-owners", o->no_owners,
                  "Skip the process scan (faster; findings cannot name processes)");
  return [o](Context& ctx) { return run_check(ctx, *o); };
}

} // namespace sockdoctor::cli
