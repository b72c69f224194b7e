// `sockdoctor ls`: every TCP socket with its owners, filtered, as a table or JSON.
#include <memory>
#include <ostream>

#include "analyze/host_model.hpp"
#include "analyze/socket_filter.hpp"
#include "cli/commands.hpp"
#include "cli/filter_options.hpp"
#include "render/socket_list.hpp"

namespace sockdoctor::cli {
namespace {

struct LsOptions {
  analyze::FilterArgs filter;
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

Process: a socket without an fd (TIME_WAIT, orphans) shows "closed by PID/comm" when the eBPF
state register (hosted by `serve` or `trace --pin`) saw that process close it; in --json
"closed_by": {"pid", "comm"}. Its age is then "traced": exact.

JSON: each owner's "cmdline" holds at most the first 4096 bytes of the command line (NULs as
spaces); a longer one is cut and the owner gets "cmdline_truncated": true (absent otherwise).

Examples:
  sockdoctor ls --state close-wait          # CLOSE_WAIT sockets and who holds them
  sockdoctor ls --comm nginx --state estab  # nginx's established connections
  sockdoctor ls --peer 10.1.2.3:5432 -w     # connections to one database, untruncated
  sockdoctor ls --json | jq '.summary'      # counts per state for scripts)";

// The rows the filter keeps. While every socket matches (no filter, or one the kernel already
// applied) no index vector is built; the first mismatch materialises the indices so far.
render::RowSelection select_rows(const core::Snapshot& snap,
                                 const analyze::SocketFilter& filter,
                                 std::vector<std::uint32_t>& rows) {
  const auto n = static_cast<std::uint32_t>(snap.sockets.size());
  std::uint32_t i = 0;
  while (i < n && filter.matches(snap.sockets[i], snap.owners))
    ++i;
  if (i == n) return render::RowSelection::all(n);
  rows.resize(i);
  for (std::uint32_t k = 0; k < i; ++k)
    rows[k] = k;
  for (++i; i < n; ++i)
    if (filter.matches(snap.sockets[i], snap.owners)) rows.push_back(i);
  return render::RowSelection(rows);
}

int run_ls(Context& ctx, const LsOptions& o) {
  auto filter = analyze::build_socket_filter(o.filter);
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
  // JSON prints tcp_info and a recording keeps what it always held; the table may not need it.
  req.tcp_info =
      o.json || !ctx.global.record_file.empty() || render::table_reads_tcp_info(filter->state_mask);
  auto sample = take_sample(ctx, req);
  if (!sample) {
    error_line(ctx, "ls", sample.error().message);
    return exit_status_of(sample.error());
  }
  const bool ages = sample->kernel.has_value(); // no settings: no AGE column
  analyze::HostModelOptions mo;
  mo.findings = false;
  mo.sections = false;
  mo.closers = !o.no_owners; // TIME_WAIT and orphans: who closed them (with the eBPF register)
  mo.ages = false;           // each row's age is computed as it is written
  const auto model =
      analyze::build_host_model(std::make_shared<const core::Sample>(std::move(*sample)), mo);
  const core::Snapshot* snap = &model.snapshot();
  std::vector<std::uint32_t> rows;
  const auto selection = select_rows(*snap, *filter, rows);
  render::SocketListView view{snap, selection, {}, !o.no_owners, &model.workloads, model.closers};
  if (ages) view.compute_age = [&model](std::size_t i) { return model.age_at(i); };
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
  add_filter_options(ls, o->filter);
  ls->add_flag("-w,--wide", o->wide, "Do not truncate addresses; list every owner with its fd");
  ls->add_flag("-H,--no-header", o->no_header, "Omit the header line");
  ls->add_flag("--json", o->json, "One JSON document: {schema_version, sockets, summary}");
  ls->add_flag("--no-owners", o->no_owners, "Skip the process scan (faster; no Process column)");
  return [o](Context& ctx) { return run_ls(ctx, *o); };
}

} // namespace sockdoctor::cli
