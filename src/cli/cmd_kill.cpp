// `sockdoctor kill`: destroy the sockets `ls` would list with the same flags (SOCK_DESTROY, like
// `ss -K`), dry run by default, each socket re-checked by cookie, every result reported and
// audited.
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <thread>

#include "analyze/kill_knowledge.hpp"
#include "analyze/kill_plan.hpp"
#include "cli/commands.hpp"
#include "cli/filter_options.hpp"
#include "cli/kill_audit.hpp"
#include "collect/kernel_settings.hpp"
#include "collect/netns.hpp"
#include "collect/sock_destroy.hpp"
#include "render/kill_report.hpp"

namespace sockdoctor::cli {
namespace {

struct KillOptions {
  analyze::FilterArgs filter;
  std::string older_than;
  std::vector<std::string> netns;
  std::string audit_file;
  double rate = 50;
  bool yes = false;
  bool json = false;
  bool wide = false;
};

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

// At most `rate` destroys per second, measured from the first.
class Pacer {
public:
  explicit Pacer(double rate) : interval_(1.0 / rate) {}
  void wait() {
    const auto due = start_ + std::chrono::duration<double>(interval_ * static_cast<double>(n_++));
    std::this_thread::sleep_until(due);
  }

private:
  double interval_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::uint64_t n_ = 0;
};

// The path setns() needs for each namespace the sample listed sockets in.
core::Result<std::map<std::uint32_t, std::string>> netns_paths(const Context& ctx,
                                                               const KillOptions& o) {
  std::map<std::uint32_t, std::string> out;
  if (!o.netns.empty()) {
    for (const auto& arg : o.netns) {
      auto ns = collect::resolve_netns(ctx.global.root, arg);
      if (!ns) return tl::unexpected(ns.error());
      out[ns->inode] = ns->path;
    }
  } else if (ctx.global.all_netns) {
    auto all = collect::discover_netns(ctx.global.root);
    if (!all) return tl::unexpected(all.error());
    for (const auto& ns : *all)
      out[ns.inode] = ns.path;
  }
  return out;
}

struct Acting {
  const core::Snapshot* snap;
  std::uint32_t state_mask;
  KillAudit* audit;
  render::AuditActor actor;
  Pacer pacer;
  std::string audit_error; // set: stop acting
};

// Destroys the rows of one namespace from a socket opened in it.
void act_on(Acting& a, std::vector<render::KillRow*>& rows) {
  auto nl = collect::DiagSocket::open();
  for (auto* row : rows) {
    if (!a.audit_error.empty()) {
      row->result = "failed";
      row->detail = "not attempted: the audit trail could not be written";
      continue;
    }
    const auto& s = a.snap->sockets[row->index];
    if (!nl) {
      row->result = "failed";
      row->detail = nl.error().message;
    } else {
      a.pacer.wait();
      const auto r = collect::destroy_verified(*nl, collect::socket_id_of(s), a.state_mask);
      row->result = std::string(collect::outcome_name(r.outcome));
      row->err = r.err;
      row->other_cookie = r.other_cookie;
      row->detail = r.detail;
    }
    if (auto w = a.audit->record(render::audit_line(a.actor, *a.snap, *row)); !w)
      a.audit_error = w.error().message;
  }
}

int exit_status(const std::vector<render::KillRow>& rows) {
  int status = kExitOk;
  for (const auto& r : rows) {
    if (r.result == "failed") return kExitUnknown;
    if (r.result == "not_permitted") status = kExitNoPerm;
    if (status == kExitOk && r.result != "destroyed" && r.result != "already_gone")
      status = kExitWarning;
  }
  return status;
}

int act(Context& ctx, const KillOptions& o, std::uint32_t mask, render::KillView& view) {
  auto audit = KillAudit::open(o.audit_file);
  if (!audit) {
    error_line(ctx, "kill", audit.error().message);
    return kExitUnknown;
  }
  auto paths = netns_paths(ctx, o);
  if (!paths) {
    error_line(ctx, "kill", paths.error().message);
    return kExitUnknown;
  }
  std::map<std::uint32_t, std::vector<render::KillRow*>> by_ns;
  for (auto& row : view.rows)
    by_ns[view.snapshot->sockets[row.index].netns_ino].push_back(&row);
  Acting a{view.snapshot, mask, &*audit, current_actor(), Pacer(o.rate), {}};
  for (auto& [ino, rows] : by_ns) {
    if (ino == 0) {
      act_on(a, rows);
      continue;
    }
    auto entered =
        collect::run_in_netns(paths->count(ino) ? paths->at(ino) : "", [&] { act_on(a, rows); });
    for (auto* row : rows)
      if (!entered && row->result.empty()) {
        row->result = "failed";
        row->detail = "netns " + std::to_string(ino) + ": " + entered.error().message;
      }
  }
  if (!a.audit_error.empty()) error_line(ctx, "kill", "audit: " + a.audit_error);
  int denied = 0, unsupported = 0;
  for (const auto& r : view.rows) {
    denied += r.result == "not_permitted" ? 1 : 0;
    unsupported += r.result == "not_supported" ? 1 : 0;
  }
  if (denied > 0)
    error_line(ctx, "kill",
               fmt::format("{} not permitted: SOCK_DESTROY needs CAP_NET_ADMIN in the user "
                           "namespace that owns the socket's network namespace",
                           denied));
  if (unsupported > 0)
    error_line(ctx, "kill",
               fmt::format("{} not supported by this kernel: it needs CONFIG_INET_DIAG_DESTROY=y, "
                           "and TIME_WAIT entries need Linux 6.0 (sockdoctor explain kill)",
                           unsupported));
  if (!audit->syslog_available())
    error_line(ctx, "kill", "no syslog socket (/dev/log): audited to " + o.audit_file + " only");
  return exit_status(view.rows);
}

int run_kill(Context& ctx, const KillOptions& o) {
  auto sel = analyze::build_kill_selection(o.filter, o.older_than);
  if (!sel) {
    error_line(ctx, "kill", sel.error().message);
    return kExitUsage;
  }
  if (!ctx.global.replay_file.empty() || ctx.global.source == "proc") {
    error_line(ctx, "kill", "needs live sock_diag (socket cookies): not --replay or --source proc");
    return kExitUsage;
  }
  if (o.rate <= 0) {
    error_line(ctx, "kill", "--rate must be above 0");
    return kExitUsage;
  }
  collect::SamplerOptions so = sampler_options(ctx.global);
  if (!o.netns.empty()) {
    so.scope = collect::NetnsScope::Listed;
    so.netns = o.netns;
  }
  collect::SampleRequest req;
  req.state_mask = sel->filter.state_mask;
  req.ipv4 = sel->filter.ipv4;
  req.ipv6 = sel->filter.ipv6;
  collect::Sampler sampler(so);
  auto sample = sampler.take(req);
  if (!sample) {
    error_line(ctx, "kill", sample.error().message);
    return kExitUnknown;
  }
  print_sample_notes(ctx, *sample, false);
  analyze::HostModelOptions mo;
  mo.findings = false;
  mo.sections = false;
  const auto model =
      analyze::build_host_model(std::make_shared<const core::Sample>(std::move(*sample)), mo);
  const auto plan = analyze::plan_kill(model, *sel);

  render::KillView view;
  view.snapshot = &model.snapshot();
  if (model.sample->kernel) view.ages = model.ages;
  for (auto i : plan.rows)
    view.rows.push_back({i, "", 0, 0, ""});
  view.dry_run = !o.yes;
  view.age_unknown = plan.age_unknown;
  view.too_young = plan.too_young;
  view.effects = analyze::destroy_effects(model.kernel());

  int status = kExitOk;
  if (o.yes) status = act(ctx, o, sel->filter.state_mask, view);
  if (o.json)
    render::render_kill_json(*ctx.out, view);
  else
    render::render_kill_text(*ctx.out, view, o.wide);
  ctx.out->flush();
  return *ctx.out ? status : kExitUnknown;
}

} // namespace

CommandRunner add_kill_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<KillOptions>();
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
  return [o](Context& run_ctx) { return run_kill(run_ctx, *o); };
}

} // namespace sockdoctor::cli
