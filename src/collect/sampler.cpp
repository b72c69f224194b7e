// Sampler: sockets from sock_diag (live, per namespace, or replayed) or /proc/net/tcp, owners from
// the eBPF iterator or /proc, collected concurrently because each is a different bottleneck
// (netlink vs the /proc walk), then kernel settings and counters.
#include "collect/sampler.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>

#include "collect/bpf_owners.hpp"
#include "collect/kernel_config.hpp"
#include "collect/kernel_settings.hpp"
#include "collect/netns.hpp"
#include "collect/privileges.hpp"
#include "collect/proc_counters.hpp"
#include "collect/proc_net_tcp.hpp"
#include "collect/proc_owners.hpp"
#include "collect/sock_diag.hpp"
#include "collect/state_register.hpp"
#include "collect/state_register_pins.hpp"
#include "collect/tcp_iter.hpp"
#include "collect/workloads.hpp"

namespace sockdoctor::collect {

struct Sampler::Namespace {
  NetnsEntry entry;
  std::string label; // /run/netns name or container id
};

namespace {

using Clock = std::chrono::steady_clock;

// What the summary mode counts instead of listing: no rule reads these sockets one by one
// (docs/performance.md, "check aggregated in the kernel"). Orphans are listed whatever their state.
constexpr std::uint32_t kAggregatedStates =
    core::state_bit(core::TcpState::Established) | core::state_bit(core::TcpState::TimeWait);

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

core::Result<void> write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return core::fail("--record " + path + ": cannot open for writing");
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) return core::fail("--record " + path + ": write failed");
  return {};
}

SockDiagRequest diag_request(const SampleRequest& r) {
  SockDiagRequest d;
  d.state_mask = r.state_mask;
  d.ipv4 = r.ipv4;
  d.ipv6 = r.ipv6;
  d.tcp_info = r.tcp_info;
  return d;
}

core::CollectorStatus status(std::string name, std::string source) {
  core::CollectorStatus s;
  s.name = std::move(name);
  s.source = std::move(source);
  s.success = true;
  return s;
}

// A namespace that vanished between discovery and setns is skipped, like a process that exits
// mid-scan.
bool namespace_gone(const core::Error& e) {
  return e.sys_errno == ENOENT || e.sys_errno == EINVAL;
}

// Adds a dump's device-bound sockets to the snapshot's list, kept sorted by cookie for lookups.
void keep_bound_devices(core::Snapshot& snap, const std::vector<core::BoundDevice>& found) {
  if (found.empty()) return;
  snap.bound_devices.insert(snap.bound_devices.end(), found.begin(), found.end());
  std::sort(
      snap.bound_devices.begin(), snap.bound_devices.end(),
      [](const core::BoundDevice& a, const core::BoundDevice& b) { return a.cookie < b.cookie; });
}

TcpIterSummaryConfig summary_config(const core::KernelSettings& k) {
  TcpIterSummaryConfig c;
  c.aggregate_mask = kAggregatedStates;
  c.range = k.ip_local_port_range.value_or(core::PortRange{});
  c.reserved = k.ip_local_reserved_ports;
  return c;
}

} // namespace

Sampler::Sampler(SamplerOptions options)
    : options_(std::move(options)), workloads_(std::make_shared<WorkloadCache>(options_.root)) {}

bool Sampler::live_own_namespace() const {
  return options_.replay_file.empty() && options_.source != SocketSource::Proc &&
         options_.scope == NetnsScope::Own && options_.record_file.empty();
}

core::Result<core::Sample> Sampler::take(const SampleRequest& request) {
  core::Sample sample;
  sample.snapshot.taken_at = std::chrono::system_clock::now();
  // A replayed dump comes from another moment (often another host): only a recorded /proc tree
  // given with --proc-root can name its owners.
  const bool owners =
      request.owners && (options_.replay_file.empty() || options_.root.proc != "/proc");
  // Both automatic eBPF choices go by how many sockets the namespace has: read sockstat once,
  // before the owner scan's thread starts.
  counts_.reset();
  if (options_.root.proc == "/proc" && options_.scope == NetnsScope::Own)
    if (auto c = read_socket_counts(options_.root.proc_path("net"))) counts_ = *c;
  summarising_ = summary_wanted(request);
  const std::uint32_t skip = summarising_ ? kAggregatedStates : 0;
  std::future<core::CollectorStatus> owner_scan;
  if (owners) // touches snapshot.owners only
    owner_scan = std::async(std::launch::async, [this, &sample, skip] {
      return scan_owners(sample.snapshot.owners, skip);
    });
  // The summary mode classifies ports with the namespace's sysctls: read them before the dump
  // (without them every socket is listed, and the owners skipped are scanned again below).
  bool kernel_read = false;
  if (summarising_) {
    sample.collectors.push_back(read_kernel(sample));
    kernel_read = true;
    summarising_ = sample.kernel.has_value();
  }
  auto sockets = collect_sockets(request, sample);
  std::optional<core::CollectorStatus> owner_status;
  if (owners) owner_status = owner_scan.get(); // always joined, even when the dump failed
  if (!sockets) return tl::unexpected(sockets.error());
  // Every socket was listed after all (the summary was incomplete or the iterator failed): the
  // owners the eBPF scan left out are needed (the /proc walk, unprivileged, left none out).
  if (owners && skip != 0 && !sample.aggregate && owner_status->source == "bpf")
    owner_status = scan_owners(sample.snapshot.owners);
  sample.collectors.push_back(std::move(*sockets));
  if (owner_status) {
    if (!owner_status->success && options_.owner_backend == OwnerBackend::Bpf)
      return tl::unexpected(*owner_status->error);
    sample.collectors.push_back(std::move(*owner_status));
  }
  if (request.kernel && !kernel_read) sample.collectors.push_back(read_kernel(sample));
  if (request.traced)
    if (auto s = read_register(sample)) sample.collectors.push_back(std::move(*s));
  if (request.workloads) {
    // A replayed dump's cgroup ids and pods belong to the host it was recorded on: only trees
    // given with --sys-root / --pods-log-root can name them.
    const bool live = options_.replay_file.empty();
    const bool cgroups = live || options_.root.sys != "/sys";
    const bool pods = live || options_.root.pods_log != core::FsRoot{}.pods_log;
    if (cgroups || pods)
      sample.collectors.push_back(workloads_->fill(
          sample.snapshot, sample.traced ? &*sample.traced : nullptr, cgroups, pods));
  }
  sample.listed_states = request.state_mask & core::kAllStatesMask;
  sample.counts = core::count_states(sample.snapshot.sockets);
  if (sample.aggregate) {
    sample.listed_states &= ~sample.aggregate->states;
    for (std::size_t st = 0; st < sample.counts.size(); ++st)
      sample.counts[st] += sample.aggregate->counts[st];
  }
  return sample;
}

core::Result<core::CollectorStatus> Sampler::collect_sockets(const SampleRequest& request,
                                                             core::Sample& sample) {
  const auto start = Clock::now();
  auto result = options_.scope == NetnsScope::Own ? dump_own(request, sample)
                                                  : dump_namespaces(request, sample);
  if (!result) return result;
  result->duration_seconds = seconds_since(start);
  result->items = sample.snapshot.sockets.size();
  sample.snapshot.source = result->source;
  return result;
}

// Live sock_diag of our own namespace, replayed replies, or /proc/net/tcp; the /proc/net/tcp
// fallback when netlink is unavailable and the user did not insist on netlink.
core::Result<core::CollectorStatus> Sampler::dump_own(const SampleRequest& request,
                                                      core::Sample& sample) {
  const auto req = diag_request(request);
  auto& out = sample.snapshot.sockets;
  if (options_.source == SocketSource::Bpf && !options_.replay_file.empty())
    return core::fail(
        core::ErrorCode::Usage,
        "--source bpf lists live sockets; --replay decodes recorded sock_diag replies");
  if (!options_.replay_file.empty()) {
    auto r = replay_sock_diag(options_.replay_file, req, out);
    if (!r) return tl::unexpected(r.error());
    keep_bound_devices(sample.snapshot, r->bound_devices);
    return status("sockets", "replay:" + options_.replay_file);
  }
  if (options_.source == SocketSource::Proc) {
    auto r = read_proc_net_tcp(options_.root, req, out);
    if (!r) return tl::unexpected(r.error());
    return status("sockets", "proc");
  }
  if (auto bpf = dump_own_bpf(request, sample)) return std::move(*bpf);
  std::string record;
  const bool recording = !options_.record_file.empty();
  auto r = dump_sock_diag(req, out, recording ? &record : nullptr);
  if (!r) {
    if (options_.source == SocketSource::Netlink || recording) return tl::unexpected(r.error());
    out.clear();
    auto p = read_proc_net_tcp(options_.root, req, out);
    if (!p) return tl::unexpected(core::with_context(r.error().message + "; fallback", p.error()));
    auto s = status("sockets", "proc");
    s.error = r.error();
    s.notes.push_back(r.error().message + "; falling back to /proc/net/tcp");
    return s;
  }
  if (recording) {
    if (auto w = write_file(options_.record_file, record); !w) return tl::unexpected(w.error());
  }
  keep_bound_devices(sample.snapshot, r->bound_devices);
  auto s = status("sockets", "sock_diag");
  s.retries = r->retries;
  if (bpf_note_) {
    s.notes.push_back(*bpf_note_);
    bpf_note_.reset(); // said once
  }
  return s;
}

// One namespace through iter/tcp (the calling thread is inside it). Under Auto a failure falls
// back to sock_diag for this and every later namespace, said once in the status.
core::Result<DumpStats> Sampler::dump_netns_bpf(const SockDiagRequest& req,
                                                std::vector<core::TcpSocket>& out,
                                                core::CollectorStatus& status) {
  const std::size_t first = out.size();
  if (!bpf_sockets_failed_) {
    auto r = dump_tcp_iter(req, *hz_, out);
    if (r) return DumpStats{};
    if (options_.source == SocketSource::Bpf)
      return tl::unexpected(core::with_context("--source bpf", r.error()));
    out.resize(first);
    bpf_sockets_failed_ = true;
    status.source = "sock_diag";
    status.notes.push_back(r.error().message + "; listing with sock_diag instead");
  }
  return dump_sock_diag(req, out);
}

bool Sampler::bpf_sockets_wanted(const SampleRequest& request) const {
  if (options_.source == SocketSource::Bpf) return true;
  if (options_.source != SocketSource::Auto || bpf_sockets_failed_) return false;
  // The iterator runs its program on every socket, where sock_diag tests the state mask first:
  // a listing without ESTABLISHED (top's light samples, `ls --state close-wait`) is cheaper
  // through sock_diag (docs/performance.md has the walk and record costs of both).
  if (!(request.state_mask & core::state_bit(core::TcpState::Established))) return false;
  if (options_.root.proc != "/proc" || !options_.record_file.empty() || !tcp_iter_compiled())
    return false;
  if (options_.scope != NetnsScope::Own) return true; // loaded once for every namespace
  if (!counts_) return false;
  const std::uint64_t in_use =
      counts_->v4.inuse.value_or(0) + counts_->v4.tw.value_or(0) + counts_->v6_inuse.value_or(0);
  return in_use >= options_.bpf_socket_threshold;
}

// The iter/tcp listing of our own namespace; nullopt: use sock_diag (not wanted, or unavailable
// under Auto, noted once). The records count in jiffies: without a known CONFIG_HZ the iterator
// cannot say milliseconds, so it is not used.
std::optional<core::Result<core::CollectorStatus>>
Sampler::dump_own_bpf(const SampleRequest& request, core::Sample& sample) {
  if (!bpf_sockets_wanted(request)) return std::nullopt;
  if (!hz_) hz_ = read_kernel_build_config(options_.root, nullptr).hz;
  auto& out = sample.snapshot.sockets;
  std::optional<std::string> fell_back;
  core::Result<TcpIterStats> r =
      core::fail(core::ErrorCode::Unavailable,
                 "eBPF socket iterator unavailable: CONFIG_HZ unknown (no /proc/config.gz)");
  if (hz_ && summarising_) {
    core::SocketAggregate aggregate;
    r = dump_tcp_iter_summary(diag_request(request), *hz_, summary_config(*sample.kernel), out,
                              aggregate);
    if (r && r->summary_incomplete.empty()) {
      sample.aggregate = std::move(aggregate);
    } else if (r) {
      fell_back = "summary in the kernel incomplete (" + r->summary_incomplete +
                  "): listing every socket instead";
      out.clear();
      r = dump_tcp_iter(diag_request(request), *hz_, out);
    }
  } else if (hz_) {
    r = dump_tcp_iter(diag_request(request), *hz_, out);
  }
  if (r) {
    auto s = status("sockets", "bpf");
    if (sample.aggregate)
      s.notes.push_back(fmt::format(
          "{} ESTABLISHED sockets with an fd and TIME_WAIT entries counted in the kernel, not "
          "listed (their owners not looked up)",
          sample.aggregate->total()));
    if (fell_back) s.notes.push_back(*fell_back);
    return s;
  }
  sample.aggregate.reset();
  if (options_.source == SocketSource::Bpf)
    return core::Result<core::CollectorStatus>(
        tl::unexpected(core::with_context("--source bpf", r.error())));
  out.clear();
  bpf_sockets_failed_ = true;
  bpf_note_ = r.error().message + "; listing with sock_diag instead";
  return std::nullopt;
}

// The summary mode when asked for and possible: the socket iterator of our own namespace alone,
// live, with its sysctls readable (they classify the ports).
bool Sampler::summary_wanted(const SampleRequest& request) {
  if (!request.aggregate || !request.kernel || options_.scope != NetnsScope::Own ||
      !options_.replay_file.empty() || !bpf_sockets_wanted(request))
    return false;
  if (!hz_) hz_ = read_kernel_build_config(options_.root, nullptr).hz;
  return hz_.has_value();
}

core::Result<std::vector<Sampler::Namespace>> Sampler::namespaces_to_dump() {
  std::vector<Namespace> out;
  if (options_.scope == NetnsScope::Listed) {
    for (const auto& arg : options_.netns) {
      auto ns = resolve_netns(options_.root, arg);
      if (!ns) return tl::unexpected(core::with_context("--netns " + arg, ns.error()));
      out.push_back({*ns, ns->name});
    }
    return out;
  }
  auto spaces = discover_netns(options_.root);
  if (!spaces) return tl::unexpected(core::with_context("--all-netns", spaces.error()));
  for (auto& ns : *spaces) {
    std::string label = ns.name.empty() ? ns.container_id : ns.name;
    out.push_back({std::move(ns), std::move(label)});
  }
  return out;
}

// One short-lived thread per namespace enters it, dumps it and reads its counters and sysctls.
core::Result<core::CollectorStatus> Sampler::dump_namespaces(const SampleRequest& request,
                                                             core::Sample& sample) {
  if (!options_.replay_file.empty() || options_.source == SocketSource::Proc)
    return core::fail(core::ErrorCode::Usage,
                      "--all-netns needs live sock_diag (not --replay or --source proc)");
  auto spaces = namespaces_to_dump();
  if (!spaces) return tl::unexpected(spaces.error());
  const auto req = diag_request(request);
  const bool kernel = request.kernel && options_.root.proc == "/proc";
  auto s = status("sockets", "sock_diag");
  if (!hz_ && bpf_sockets_wanted(request))
    hz_ = read_kernel_build_config(options_.root, nullptr).hz;
  const bool bpf = hz_ && bpf_sockets_wanted(request);
  if (options_.source == SocketSource::Bpf && !bpf)
    return core::fail(core::ErrorCode::Unavailable,
                      "--source bpf: eBPF socket iterator unavailable: CONFIG_HZ unknown (no "
                      "/proc/config.gz)");
  if (bpf) s.source = "bpf";
  for (const auto& ns : *spaces) {
    auto& out = sample.snapshot.sockets;
    const std::size_t first = out.size();
    core::Result<DumpStats> dumped = core::fail("not run");
    std::optional<core::KernelSettings> settings;
    auto entered = run_in_netns(ns.entry.path, [&] {
      dumped = bpf ? dump_netns_bpf(req, out, s) : dump_sock_diag(req, out);
      if (dumped && kernel) {
        if (auto k = read_kernel_settings(options_.root, "/proc/thread-self/net", nullptr))
          settings = std::move(*k);
      }
    });
    if (!entered || !dumped) {
      const core::Error& e = entered ? dumped.error() : entered.error();
      if (namespace_gone(e)) {
        ++s.vanished;
        continue;
      }
      return tl::unexpected(core::with_context("--all-netns", e));
    }
    for (auto i = first; i < out.size(); ++i)
      out[i].netns_ino = ns.entry.inode;
    s.retries += dumped->retries;
    keep_bound_devices(sample.snapshot, dumped->bound_devices);
    if (settings) sample.netns_kernel.emplace(ns.entry.inode, std::move(*settings));
    sample.snapshot.namespaces.push_back({ns.entry.inode, ns.label});
  }
  return s;
}

bool Sampler::bpf_owner_scan_wanted() const {
  if (options_.owner_backend == OwnerBackend::Bpf) return true;
  if (options_.owner_backend == OwnerBackend::Proc || bpf_owner_scan_failed_) return false;
  if (options_.root.proc != "/proc" || !bpf_owner_scan_compiled()) return false;
  if (options_.scope != NetnsScope::Own) return true;
  return counts_ && counts_->v4.inuse.value_or(0) >= options_.bpf_owner_threshold;
}

core::CollectorStatus Sampler::scan_owners(core::OwnerTable& out, std::uint32_t skip_states) {
  const auto start = Clock::now();
  core::CollectorStatus s = status("owners", "proc");
  if (bpf_owner_scan_wanted()) {
    auto table = scan_owners_bpf(options_.root, true, skip_states);
    if (table) {
      out = std::move(*table);
      s.source = "bpf";
    } else {
      s.error = core::with_context("--owner-scan bpf", table.error());
      if (options_.owner_backend == OwnerBackend::Bpf) {
        s.success = false;
        return s;
      }
      // Unavailable here (no CAP_BPF, old kernel): say so once, then stay on /proc.
      bpf_owner_scan_failed_ = bpf_owner_scan_unavailable(table.error());
      s.notes.push_back(table.error().message + "; scanning /proc instead");
    }
  }
  if (s.source == "proc") {
    auto table = collect::scan_owners(options_.root, OwnerScanOptions{});
    if (!table) {
      s.success = false;
      s.error = core::with_context("owners", table.error());
      s.notes.push_back(s.error->message);
    } else {
      out = std::move(*table);
    }
  }
  s.duration_seconds = seconds_since(start);
  s.items = out.processes().size();
  s.vanished = out.vanished;
  s.denied = out.denied;
  if (out.denied > 0) out.denied_lacking = missing_owner_capabilities();
  if (out.vanished > 0)
    s.notes.push_back(fmt::format("{} processes exited during the scan", out.vanished));
  return s;
}

core::CollectorStatus Sampler::read_kernel(core::Sample& sample) {
  const auto start = Clock::now();
  core::CollectorStatus s = status("kernel", "proc");
  auto kernel = read_kernel_settings(options_.root, &s.notes);
  if (kernel) {
    sample.kernel = std::move(*kernel);
  } else {
    s.success = false;
    s.error = kernel.error();
  }
  s.duration_seconds = seconds_since(start);
  return s;
}

// The register's entries for the listed sockets. Absent register: no status at all (nothing is
// missing, the ages are the usual estimates); unreadable or stale pins: a status that says so.
std::optional<core::CollectorStatus> Sampler::read_register(core::Sample& sample) {
  if (!options_.replay_file.empty() || options_.root.proc != "/proc" ||
      options_.register_pin_root.empty())
    return std::nullopt;
  const auto start = Clock::now();
  if (register_ && !register_->host_alive()) register_.reset(); // a new host pins new maps
  if (!register_) {
    // No pins: nobody hosts a register, nothing to say (the ages are the usual estimates).
    struct stat pins {};
    if (::stat(register_pin_dir(options_.register_pin_root).c_str(), &pins) != 0)
      return std::nullopt;
    auto opened = open_pinned_register(options_.register_pin_root);
    if (!opened) {
      if (opened.error().code == core::ErrorCode::NotFound) return std::nullopt;
      core::CollectorStatus s = status("register", "bpf pin");
      s.success = false;
      s.error = opened.error();
      s.notes.push_back(opened.error().message + "; ages are estimated");
      return s;
    }
    register_ = std::make_shared<RegisterReader>(std::move(*opened));
  }
  std::vector<std::uint64_t> cookies;
  cookies.reserve(sample.snapshot.sockets.size());
  for (const auto& s : sample.snapshot.sockets)
    if (s.cookie != 0) cookies.push_back(s.cookie);
  core::CollectorStatus s = status("register", "bpf pin");
  core::TracedView view;
  view.info = register_->info();
  view.now_boot_ns = boot_time_ns();
  auto found = register_->lookup(cookies);
  if (!found) {
    s.success = false;
    s.error = found.error();
    s.notes.push_back(found.error().message + "; ages are estimated");
    register_.reset();
  } else {
    for (std::size_t i = 0; i < cookies.size(); ++i)
      if ((*found)[i]) view.by_cookie.emplace(cookies[i], std::move(*(*found)[i]));
    s.items = view.by_cookie.size();
    if (auto counters = register_->counters())
      view.counters = *counters;
    else
      s.notes.push_back("the register's counters are unreadable: " + counters.error().message);
    sample.traced = std::move(view);
  }
  s.duration_seconds = seconds_since(start);
  return s;
}

core::Result<core::OwnerTable>
Sampler::rescan_owners(const std::vector<core::ProcessInfo>& processes) {
  return scan_owners_of(options_.root, processes);
}

} // namespace sockdoctor::collect
