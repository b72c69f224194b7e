// take_snapshot: sockets from sock_diag (live or replayed) or /proc/net/tcp, owners from /proc,
// the two collected concurrently because each is a different bottleneck (netlink vs /proc walk).
#include <fmt/format.h>

#include <fstream>
#include <future>
#include <ostream>

#include "cli/context.hpp"
#include "collect/proc_net_tcp.hpp"
#include "collect/proc_owners.hpp"
#include "collect/sock_diag.hpp"

namespace sockdoctor::cli {
namespace {

core::Result<void> write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return core::fail("--record " + path + ": cannot open for writing");
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) return core::fail("--record " + path + ": write failed");
  return {};
}

// Live sock_diag, with the /proc/net/tcp fallback when netlink is unavailable and the user did
// not insist on netlink.
core::Result<std::string> collect_sockets(const Context& ctx, const collect::SockDiagRequest& req,
                                          std::vector<core::TcpSocket>& out) {
  const auto& g = ctx.global;
  if (!g.replay_file.empty()) {
    auto r = collect::replay_sock_diag(g.replay_file, req, out);
    if (!r) return tl::unexpected(r.error());
    return "replay:" + g.replay_file;
  }
  if (g.source == "proc") {
    auto r = collect::read_proc_net_tcp(g.root, req, out);
    if (!r) return tl::unexpected(r.error());
    return std::string("proc");
  }
  std::string record;
  auto r = collect::dump_sock_diag(req, out, g.record_file.empty() ? nullptr : &record);
  if (!r) {
    if (g.source == "netlink" || !g.record_file.empty()) return tl::unexpected(r.error());
    if (g.verbose > 0)
      *ctx.err << "sockdoctor: " << r.error().message << "; falling back to /proc/net/tcp\n";
    out.clear();
    auto p = collect::read_proc_net_tcp(g.root, req, out);
    if (!p) return tl::unexpected(core::with_context(r.error().message + "; fallback", p.error()));
    return std::string("proc");
  }
  if (!g.record_file.empty()) {
    auto w = write_file(g.record_file, record);
    if (!w) return tl::unexpected(w.error());
  }
  return std::string("sock_diag");
}

void note_hidden_owners(const Context& ctx, const core::OwnerTable& owners) {
  if (owners.denied > 0)
    *ctx.err << fmt::format(
        "sockdoctor: owners of sockets held by {} other users' processes are not shown "
        "(run as root to see them)\n",
        owners.denied);
  if (ctx.global.verbose > 0 && owners.vanished > 0)
    *ctx.err << fmt::format("sockdoctor: {} processes exited during the scan\n", owners.vanished);
}

}  // namespace

core::Result<core::Snapshot> take_snapshot(const Context& ctx, const SnapshotRequest& req) {
  core::Snapshot snap;
  snap.taken_at = std::chrono::system_clock::now();
  // A replayed dump comes from another moment (often another host): only a recorded /proc tree
  // given with --proc-root can name its owners.
  const bool owners = req.owners && (ctx.global.replay_file.empty() || ctx.global.root.proc != "/proc");
  std::future<core::Result<core::OwnerTable>> owner_scan;
  if (owners) {
    owner_scan = std::async(std::launch::async, [&ctx] {
      return collect::scan_owners(ctx.global.root, collect::OwnerScanOptions{});
    });
  }
  collect::SockDiagRequest dreq;
  dreq.state_mask = req.state_mask;
  dreq.ipv4 = req.ipv4;
  dreq.ipv6 = req.ipv6;
  dreq.tcp_info = req.tcp_info;
  auto source = collect_sockets(ctx, dreq, snap.sockets);
  if (owners) {
    auto table = owner_scan.get();  // always joined, even when the dump failed
    if (!table) return tl::unexpected(core::with_context("owners", table.error()));
    snap.owners = std::move(*table);
    note_hidden_owners(ctx, snap.owners);
  }
  if (!source) return tl::unexpected(source.error());
  snap.source = std::move(*source);
  return snap;
}

}  // namespace sockdoctor::cli
