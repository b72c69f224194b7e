// `sockdoctor ls`: every TCP socket with its owners, filtered, as a table or JSON.
#include <fmt/format.h>

#include <memory>
#include <ostream>

#include "analyze/host_model.hpp"
#include "analyze/socket_filter.hpp"
#include "cli/commands.hpp"
#include "render/socket_list.hpp"

namespace sockdoctor::cli {
namespace {

struct LsOptions {
  std::vector<std::string> states;
  std::vector<std::int32_t> pids;
  std::vector<std::string> comms;
  std::vector<std::uint16_t> ports;
  std::string peer;
  bool only4 = false;
  bool only6 = false;
  bool wide = false;
  bool json = false;
  bool no_owners = false;
  bool no_header = false;
};

constexpr const char* kLsFooter = R"(
States: ss names (close-wait, estab, time-wait, fin-wait-2, ...) or snake_case (close_wait),
comma lists, and the groups all, connected, synchronized, bucket, big. The state filter runs in
the kernel, so `--state close-wait` stays fast on hosts with a million sockets.

Age: how long the socket has been in its state, with its basis: TIME_WAIT and orphaned FIN_WAIT2
from the kernel timer, CLOSE_WAIT from the last ACK received. ">" marks a lower bound (TIME_WAIT,
CLOSE_WAIT), "~" an estimate (orphaned FIN_WAIT2: its timer may be 3.5 x RTO or TCP_LINGER2
rather than tcp_fin_timeout); in --json, "lower_bound": true and "estimate": true.

Examples:
  sockdoctor ls --state close-wait          # CLOSE_WAIT sockets and who holds them
  sockdoctor ls --comm nginx --state estab  # nginx's established connections
  sockdoctor ls --peer 10.1.2.3:5432 -w     # connections to one database, untruncated
  sockdoctor ls --json | jq '.summary'      # counts per state for scripts)";

core::Result<analyze::SocketFilter> build_filter(const LsOptions& o) {
  analyze::SocketFilter f;
  if (!o.states.empty()) {
    std::uint32_t mask = 0;
    for (const auto& s : o.states) {
      std::string_view bad;
      auto m = core::parse_state_list(s, &bad);
      if (!m) return core::fail(fmt::format("--state: unknown state or group '{}'", bad));
      mask |= *m;
    }
    f.state_mask = mask;
  }
  if (o.only4 && o.only6) return core::fail("-4 and -6 exclude each other");
  f.ipv4 = !o.only6;
  f.ipv6 = !o.only4;
  f.pids = o.pids;
  f.comms = o.comms;
  f.ports = o.ports;
  if (!o.peer.empty()) {
    auto p = analyze::parse_peer(o.peer);
    if (!p)
      return core::fail("--peer: expected ADDR, ADDR:PORT or [V6ADDR]:PORT, got '" + o.peer + "'");
    f.peer_addr = p->addr;
    f.peer_port = p->port;
  }
  return f;
}

int run_ls(Context& ctx, const LsOptions& o) {
  auto filter = build_filter(o);
  if (!filter) {
    error_line(ctx, "ls", filter.error().message);
    return kExitUsage;
  }
  if (o.no_owners && filter->needs_owners()) {
    *ctx.err << "sockdoctor ls: --pid/--comm need owners; drop --no-owners\n";
    return kExitUsage;
  }
  collect::SampleRequest req;
  req.state_mask = filter->state_mask;
  req.ipv4 = filter->ipv4;
  req.ipv6 = filter->ipv6;
  req.owners = !o.no_owners;
  auto sample = take_sample(ctx, req);
  if (!sample) {
    error_line(ctx, "ls", sample.error().message);
    return kExitUnknown;
  }
  const bool ages = sample->kernel.has_value(); // no settings: no AGE column
  analyze::HostModelOptions mo;
  mo.findings = false;
  mo.sections = false;
  const auto model =
      analyze::build_host_model(std::make_shared<const core::Sample>(std::move(*sample)), mo);
  const core::Snapshot* snap = &model.snapshot();
  std::vector<std::uint32_t> rows;
  rows.reserve(snap->sockets.size());
  for (std::uint32_t i = 0; i < snap->sockets.size(); ++i)
    if (filter->matches(snap->sockets[i], snap->owners)) rows.push_back(i);
  render::SocketListView view{snap, rows,
                              ages ? std::span(model.ages) : std::span<const analyze::Age>(),
                              !o.no_owners, &model.workloads};
  if (o.json)
    render::render_socket_json(*ctx.out, view);
  else
    render::render_socket_table(*ctx.out, view, {.wide = o.wide, .header = !o.no_header});
  ctx.out->flush();
  return *ctx.out ? kExitOk : kExitUnknown;
}

} // namespace

CommandRunner add_ls_command(CLI::App& app, Context&) {
  auto o = std::make_shared<LsOptions>();
  auto* ls = app.add_subcommand("ls", "List TCP sockets with their owners (like ss -tanp, fast)");
  ls->footer(kLsFooter);
  ls->add_option("-s,--state", o->states, "Only these states or groups (comma list, repeatable)");
  ls->add_option("-p,--pid", o->pids, "Only sockets held by this PID (repeatable)");
  ls->add_option("-c,--comm", o->comms,
                 "Only sockets held by a process with this name (repeatable)");
  ls->add_option("--port", o->ports, "Only sockets whose local or peer port is PORT (repeatable)");
  ls->add_option("--peer", o->peer, "Only sockets connected to ADDR or ADDR:PORT ([v6]:port)");
  ls->add_flag("-4", o->only4, "IPv4 only");
  ls->add_flag("-6", o->only6, "IPv6 only");
  ls->add_flag("-w,--wide", o->wide, "Do not truncate addresses; list every owner with its fd");
  ls->add_flag("-H,--no-header", o->no_header, "Omit the header line");
  ls->add_flag("--json", o->json, "One JSON document: {schema_version, sockets, summary}");
  ls->add_flag("--no-owners", o->no_owners, "Skip the process scan (faster; no Process column)");
  return [o](Context& ctx) { return run_ls(ctx, *o); };
}

} // namespace sockdoctor::cli
