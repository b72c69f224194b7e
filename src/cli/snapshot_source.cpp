// take_snapshot: sockets from sock_diag (live or replayed) or /proc/net/tcp, owners from /proc,
// the two collected concurrently because each is a different bottleneck (netlink vs /proc walk).
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <ostream>
#include <thread>

#include "cli/context.hpp"
#include "collect/bpf_owners.hpp"
#include "collect/netns.hpp"
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
core::Result<std::string> collect_sockets(const Context& ctx,
                                          const collect::SockDiagRequest& req,
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

// Dumps one namespace: a netlink socket belongs to the netns of the thread that creates it, so a
// short-lived thread enters the namespace, dumps, and exits (the main thread never moves).
core::Result<void> dump_in_netns(const collect::NetnsEntry& ns,
                                 const collect::SockDiagRequest& req,
                                 std::vector<core::TcpSocket>& out) {
  core::Result<void> result;
  std::thread worker([&] {
    const int fd = ::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = core::fail(fmt::format("{}: {}", ns.path, std::strerror(errno)), errno);
      return;
    }
    const int rc = ::setns(fd, CLONE_NEWNET);
    const int saved = errno;
    ::close(fd);
    if (rc != 0) {
      result = core::fail(fmt::format("setns {}: {}", ns.path, std::strerror(saved)), saved);
      return;
    }
    const auto first = out.size();
    auto r = collect::dump_sock_diag(req, out);
    if (!r) {
      result = tl::unexpected(r.error());
      return;
    }
    for (auto i = first; i < out.size(); ++i)
      out[i].netns_ino = ns.inode;
  });
  worker.join();
  return result;
}

// --all-netns: every namespace found through /proc/*/ns/net and /run/netns. Namespaces that
// vanish between discovery and dump are skipped (like processes that exit mid-scan).
core::Result<std::string>
collect_all_netns(const Context& ctx, const collect::SockDiagRequest& req, core::Snapshot& snap) {
  if (!ctx.global.replay_file.empty() || ctx.global.source == "proc")
    return core::fail("--all-netns needs live sock_diag (not --replay or --source proc)");
  auto spaces = collect::discover_netns(ctx.global.root);
  if (!spaces) return tl::unexpected(core::with_context("--all-netns", spaces.error()));
  for (const auto& ns : *spaces) {
    auto r = dump_in_netns(ns, req, snap.sockets);
    if (!r) {
      if (r.error().sys_errno == ENOENT || r.error().sys_errno == EINVAL) continue;
      return tl::unexpected(core::with_context("--all-netns", r.error()));
    }
    snap.namespaces.push_back({ns.inode, ns.name.empty() ? ns.container_id : ns.name});
  }
  return std::string("sock_diag");
}

// Sockets in use in this namespace, from /proc/net/sockstat (cheap): decides whether loading the
// eBPF iterator (tens of ms) pays off against a /proc walk (about 2.4 us per socket fd).
std::uint64_t sockets_in_use(const core::FsRoot& root) {
  auto text = core::read_text_file(root.proc_path("net/sockstat"));
  if (!text) return 0;
  unsigned long long inuse = 0;
  const auto at = text->find("TCP: inuse ");
  if (at == std::string::npos || std::sscanf(text->c_str() + at, "TCP: inuse %llu", &inuse) != 1)
    return 0;
  return inuse;
}

constexpr std::uint64_t kBpfWorthItSockets = 20000;

// Owners through the eBPF iterator when asked or worth it, else (or on any failure) /proc.
core::Result<core::OwnerTable> scan_owners(const Context& ctx) {
  const auto& g = ctx.global;
  const bool live = g.root.proc == "/proc";
  const bool try_bpf = g.owner_scan == "bpf" ||
                       (g.owner_scan == "auto" && live && collect::bpf_owner_scan_compiled() &&
                        (g.all_netns || sockets_in_use(g.root) >= kBpfWorthItSockets));
  if (try_bpf) {
    auto table = collect::scan_owners_bpf(g.root, true);
    if (table) return table;
    if (g.owner_scan == "bpf")
      return tl::unexpected(core::with_context("--owner-scan bpf", table.error()));
    if (g.verbose > 0)
      *ctx.err << "sockdoctor: " << table.error().message << "; scanning /proc instead\n";
  }
  return collect::scan_owners(g.root, collect::OwnerScanOptions{});
}

void note_hidden_owners(const Context& ctx, const core::OwnerTable& owners) {
  if (owners.denied > 0) {
    if (::geteuid() == 0)
      *ctx.err << fmt::format(
          "sockdoctor: the open files of {} process{} could not be read (another user namespace "
          "or a security module); their sockets are shown without owners\n",
          owners.denied, owners.denied == 1 ? "" : "es");
    else
      *ctx.err << fmt::format(
          "sockdoctor: owners of sockets held by {} other user{} processes are not shown "
          "(run as root to see them)\n",
          owners.denied, owners.denied == 1 ? "'s" : "s'");
  }
  if (ctx.global.verbose > 0 && owners.vanished > 0)
    *ctx.err << fmt::format("sockdoctor: {} processes exited during the scan\n", owners.vanished);
}

} // namespace

core::Result<core::Snapshot> take_snapshot(const Context& ctx, const SnapshotRequest& req) {
  core::Snapshot snap;
  snap.taken_at = std::chrono::system_clock::now();
  // A replayed dump comes from another moment (often another host): only a recorded /proc tree
  // given with --proc-root can name its owners.
  const bool owners =
      req.owners && (ctx.global.replay_file.empty() || ctx.global.root.proc != "/proc");
  std::future<core::Result<core::OwnerTable>> owner_scan;
  if (owners) {
    owner_scan = std::async(std::launch::async, [&ctx] { return scan_owners(ctx); });
  }
  collect::SockDiagRequest dreq;
  dreq.state_mask = req.state_mask;
  dreq.ipv4 = req.ipv4;
  dreq.ipv6 = req.ipv6;
  dreq.tcp_info = req.tcp_info;
  auto source = ctx.global.all_netns ? collect_all_netns(ctx, dreq, snap)
                                     : collect_sockets(ctx, dreq, snap.sockets);
  if (owners) {
    auto table = owner_scan.get(); // always joined, even when the dump failed
    if (!table) return tl::unexpected(core::with_context("owners", table.error()));
    snap.owners = std::move(*table);
    if (req.note_hidden_owners) note_hidden_owners(ctx, snap.owners);
  }
  if (!source) return tl::unexpected(source.error());
  snap.source = std::move(*source);
  return snap;
}

} // namespace sockdoctor::cli
