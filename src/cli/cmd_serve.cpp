// `sockdoctor serve`: the Prometheus exporter's options; the exporter itself is src/serve.
#include <fmt/format.h>

#include <memory>
#include <ostream>

#include "cli/commands.hpp"
#include "cli/validators.hpp"
#include "collect/netns.hpp"
#include "core/duration.hpp"
#include "render/prometheus.hpp"
#include "serve/exporter.hpp"
#include "serve/privileges.hpp"
#include "store/history_writer.hpp"

namespace sockdoctor::cli {
namespace {

struct ServeCliOptions {
  std::string listen = fmt::format("127.0.0.1:{}", serve::kDefaultPort);
  std::vector<std::string> netns;
  double min_interval = 1;
  render::SeriesLimits limits;
  std::string web_config_file;
  double connection_timeout = 10;
  std::size_t max_connections = 16;
  std::string db = store::kDefaultHistoryPath; // "off": record nothing
  double interval = 60;
  std::string retention = "14d";
};

constexpr const char* kDbOff = "off";

std::string footer() {
  const render::SeriesLimits d;
  return fmt::format(R"(
Endpoints: /metrics (Prometheus text format 0.0.4; OpenMetrics 1.0 when the Accept header asks
for it), / (status page: counts, findings, holders, history charts). Only GET and HEAD
(405 otherwise).

Series: at most {} with the defaults: 10 states x (--max-netns + 1) + 3 x (--top-holders + 1)
holder series + 2 x (--top-holders + 1) TIME_WAIT causes + 2 x --top-destinations + 1 port
budgets + 6 x --max-netns kernel counters and names + meta (build, collectors, the eBPF
register's state and losses, findings by rule id and severity, missing privileges). Holders are labelled by process name and systemd unit,
container, pod and pod namespace (pod_namespace), never by pid, port or peer address.

Scrapes are coalesced: concurrent scrapes share one sample, a sample younger than
--min-interval is served again, and two dumps never run at once.

History: every --interval seconds (scraped or not) one sample is recorded into --db, through
the same sampling thread as the scrapes; `sockdoctor history` reads it. The default database is
skipped with one notice when /var/lib/sockdoctor is missing or not writable; an explicit --db
that cannot be opened is an error.

eBPF: while it runs it hosts the state register in the --register directory (CAP_BPF and
CAP_PERFMON): exact ages for sockets that change state from then on, TIME_WAIT per closing
process; `sockdoctor --register off serve` does without it.

Privileges: root (or CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH) watches every network
namespace and names every owner; without them it says once what it cannot see, and exports it
as sockdoctor_capability_missing.

Examples:
  sudo sockdoctor serve                                   # every namespace, 127.0.0.1:10188
  sockdoctor serve --listen :10188 --web.config.file web.yml   # TLS and basic auth
  sockdoctor serve --netns blue --netns /proc/1234/ns/net --top-holders 50)",
                     render::worst_case_series(d, 2));
}

int run_serve(Context& ctx, const ServeCliOptions& o) {
  serve::ExporterOptions e;
  e.listen = o.listen;
  e.err = ctx.err;
  e.web_config_file = o.web_config_file;
  e.threads = o.max_connections;
  e.connection_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.connection_timeout * 1000));
  auto& s = e.scraper;
  s.sampler = sampler_options(ctx.global);
  s.min_interval = std::chrono::milliseconds(static_cast<std::int64_t>(o.min_interval * 1000));
  s.limits = o.limits;
  s.info.version = "0.1.0";
  s.info.own_netns = collect::current_netns_inode(ctx.global.root);
  if (o.db != kDbOff && ctx.global.replay_file.empty()) {
    serve::HistoryRecording h;
    h.path = o.db;
    h.required = o.db != store::kDefaultHistoryPath;
    h.writer.interval_s = o.interval;
    h.writer.retention_s = o.retention == "all" ? 0 : *core::parse_duration(o.retention);
    s.history = std::move(h);
  }

  serve::choose_scope(e, o.netns, !ctx.global.replay_file.empty());
  auto r = serve::run_exporter(e);
  if (!r) {
    error_line(ctx, "serve", r.error().message);
    return r.error().code == core::ErrorCode::Usage ? kExitUsage : kExitUnknown;
  }
  return kExitOk;
}

} // namespace

CommandRunner add_serve_command(CLI::App& app, Context&) {
  auto o = std::make_shared<ServeCliOptions>();
  auto* cmd = app.add_subcommand("serve", "Export the diagnosis as Prometheus metrics over HTTP");
  cmd->footer(footer());
  cmd->add_option("--listen", o->listen,
                  "HOST:PORT to listen on ([::1]:PORT for IPv6, :PORT for "
                  "every address of both families); a port in use is an error")
      ->capture_default_str();
  cmd->add_option("--netns", o->netns,
                  "Watch this network namespace (/run/netns name or nsfs path; repeatable). "
                  "Default: every namespace when permitted, else its own");
  cmd->add_option("--min-interval", o->min_interval,
                  "Serve the last sample again to scrapes within SECONDS of it")
      ->check(non_negative_seconds())
      ->capture_default_str();
  cmd->add_option("--top-holders", o->limits.holders,
                  "Holder and TIME_WAIT cause rows (the rest summed into owner=\"other\")")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--top-destinations", o->limits.destinations,
                  "Port budget destinations (the rest summed into destination=\"other\")")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--max-netns", o->limits.namespaces,
                  "Namespaces with their own series (the rest summed into netns=\"other\")")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--web.config.file", o->web_config_file,
                  "exporter-toolkit web config: tls_server_config (cert_file, key_file), "
                  "basic_auth_users (bcrypt)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--web.connection-timeout", o->connection_timeout,
                  "Longest life of one connection, request to response (plus twice the last "
                  "sample's duration); slower clients are cut off")
      ->check(non_negative_seconds())
      ->capture_default_str();
  cmd->add_option("--web.max-connections", o->max_connections,
                  "Connections served at once (more wait in the queue)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--db", o->db,
                  "Record history (what `sockdoctor history` reads) into this SQLite database "
                  "every --interval; 'off': none. The default is skipped, with a notice, when "
                  "it cannot be opened")
      ->capture_default_str();
  cmd->add_option("--interval", o->interval, "Seconds between history records (scraped or not)")
      ->check(CLI::Range(0.5, 86400.0))
      ->capture_default_str();
  cmd->add_option("--retention", o->retention,
                  "Delete history older than this (90s, 30m, 2h, 7d, or all)")
      ->check(duration_or_all("7d"))
      ->capture_default_str();
  return [o](Context& ctx) { return run_serve(ctx, *o); };
}

} // namespace sockdoctor::cli
