// `sockdoctor kill`: samples what the flags of `ls` select, plans, and destroys each socket from
// its own network namespace (SOCK_DESTROY, re-checked by cookie), paced, each action audited.
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <memory>
#include <ostream>
#include <thread>

#include "analyze/host_model.hpp"
#include "analyze/kill_knowledge.hpp"
#include "analyze/kill_plan.hpp"
#include "collect/netns.hpp"
#include "collect/sock_destroy.hpp"
#include "kill/audit.hpp"
#include "kill/kill.hpp"
#include "render/escape.hpp"
#include "render/kill_report.hpp"
#include "render/notes.hpp"

namespace sockdoctor::kill {
namespace {

void error_line(const Options& o, std::string_view message) {
  render::write_notice(*o.err, "sockdoctor kill: ", message);
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
core::Result<std::map<std::uint32_t, std::string>> netns_paths(const Options& o) {
  std::map<std::uint32_t, std::string> out;
  if (!o.netns.empty()) {
    for (const auto& arg : o.netns) {
      auto ns = collect::resolve_netns(o.sampler.root, arg);
      if (!ns) return tl::unexpected(ns.error());
      out[ns->inode] = ns->path;
    }
  } else if (o.sampler.scope == collect::NetnsScope::All) {
    auto all = collect::discover_netns(o.sampler.root);
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
      const auto r = collect::destroy_verified(
          *nl, collect::socket_id_of(s, a.snap->bound_ifindex(s.cookie)), a.state_mask);
      row->result = std::string(collect::outcome_name(r.outcome));
      row->err = r.err;
      row->other_cookie = r.other_cookie;
      row->detail = r.detail;
    }
    if (auto w = a.audit->record(render::audit_line(a.actor, *a.snap, *row)); !w)
      a.audit_error = w.error().message;
  }
}

Outcome::Status status_of(const std::vector<render::KillRow>& rows) {
  using Status = Outcome::Status;
  Status status = Status::Done;
  for (const auto& r : rows) {
    if (r.result == "failed") return Status::Failed;
    if (r.result == "not_permitted") status = Status::NotPermitted;
    if (status == Status::Done && r.result != "destroyed" && r.result != "already_gone")
      status = Status::SomeLeft;
  }
  return status;
}

Outcome::Status act(const Options& o, std::uint32_t mask, render::KillView& view) {
  auto audit = KillAudit::open(o.audit_file);
  if (!audit) {
    error_line(o, audit.error().message);
    return Outcome::Status::Failed;
  }
  auto paths = netns_paths(o);
  if (!paths) {
    error_line(o, paths.error().message);
    return Outcome::Status::Failed;
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
  if (!a.audit_error.empty()) error_line(o, "audit: " + a.audit_error);
  int denied = 0, unsupported = 0;
  for (const auto& r : view.rows) {
    denied += r.result == "not_permitted" ? 1 : 0;
    unsupported += r.result == "not_supported" ? 1 : 0;
  }
  if (denied > 0)
    error_line(o, fmt::format("{} not permitted: SOCK_DESTROY needs CAP_NET_ADMIN in the user "
                              "namespace that owns the socket's network namespace",
                              denied));
  if (unsupported > 0)
    error_line(o,
               fmt::format("{} not supported by this kernel: it needs CONFIG_INET_DIAG_DESTROY=y, "
                           "and TIME_WAIT entries need Linux 6.0 (sockdoctor explain kill)",
                           unsupported));
  if (!audit->syslog_available())
    error_line(o, "no syslog socket (/dev/log): audited to " + o.audit_file + " only");
  return status_of(view.rows);
}

} // namespace

Outcome run(const Options& o) {
  auto sel = analyze::build_kill_selection(o.filter, o.older_than);
  if (!sel) {
    error_line(o, sel.error().message);
    return {Outcome::Status::Usage};
  }
  if (!o.sampler.replay_file.empty() || o.sampler.source == collect::SocketSource::Proc ||
      o.sampler.source == collect::SocketSource::Bpf) {
    error_line(o, "needs live sock_diag (socket cookies, bound devices): not --replay or "
                  "--source proc or bpf");
    return {Outcome::Status::Usage};
  }
  if (o.rate <= 0) {
    error_line(o, "--rate must be above 0");
    return {Outcome::Status::Usage};
  }
  collect::SamplerOptions so = o.sampler;
  // The SOCK_DESTROY lookup needs each socket's bound device (idiag_if), which only the
  // sock_diag dump carries: never the socket iterator, whatever the host's size.
  so.source = collect::SocketSource::Netlink;
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
    error_line(o, sample.error().message);
    return {Outcome::Status::Failed};
  }
  for (const auto& line : render::sample_note_lines(*sample, o.verbose, false, ::geteuid() == 0))
    *o.err << line << "\n";
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

  auto status = Outcome::Status::Done;
  if (o.yes) status = act(o, sel->filter.state_mask, view);
  if (o.json)
    render::render_kill_json(*o.out, view);
  else
    render::render_kill_text(*o.out, view, o.wide);
  o.out->flush();
  return {*o.out ? status : Outcome::Status::Failed};
}

} // namespace sockdoctor::kill
