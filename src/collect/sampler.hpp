// The one sampler: a plain options struct in, one core::Sample out (sockets, owners, kernel
// settings and counters, and each collector's status). Used by check, ls, top and serve alike;
// cheap enough to call every second (what does not change is found once, at construction).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collect/proc_counters.hpp"
#include "collect/sock_diag.hpp"
#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/sample.hpp"

namespace sockdoctor::collect {

class RegisterReader; // state_register.hpp
class WorkloadCache;  // workloads.hpp

enum class SocketSource : std::uint8_t {
  Auto,    // iter/tcp on big hosts when permitted, else sock_diag; /proc/net/tcp without netlink
  Netlink, // sock_diag only
  Bpf,     // the eBPF iter/tcp program (tcp_sockets.bpf.c) or an error
  Proc,    // /proc/net/tcp{,6} only
};

enum class OwnerBackend : std::uint8_t {
  Auto, // the eBPF iterator on big hosts (or many namespaces) when permitted, else /proc
  Bpf,  // the eBPF iterator or an error
  Proc, // the /proc/PID/fd walk
};

enum class NetnsScope : std::uint8_t {
  Own,    // the namespace sockdoctor runs in
  All,    // every namespace: /run/netns and every process's ns/net (root)
  Listed, // the namespaces in SamplerOptions::netns (names or paths)
};

struct SamplerOptions {
  core::FsRoot root;
  SocketSource source = SocketSource::Auto;
  std::string replay_file; // decode these recorded sock_diag replies instead of asking
  std::string record_file; // also write the raw replies here (own namespace, live only)
  OwnerBackend owner_backend = OwnerBackend::Auto;
  NetnsScope scope = NetnsScope::Own;
  std::vector<std::string> netns; // NetnsScope::Listed: /run/netns names or nsfs paths
  // Auto uses the eBPF owner scan from this many sockets in use (sockstat): loading the iterator
  // costs tens of ms, the /proc walk about 2.4 us per socket fd.
  std::uint64_t bpf_owner_threshold = 20000;
  // Auto lists sockets with iter/tcp from this many sockets in use: netlink formats a message per
  // socket, the iterator copies a fixed record (docs/performance.md has both).
  std::uint64_t bpf_socket_threshold = 20000;
  // Where a running eBPF state register is pinned (serve, `trace --pin`); "" never reads one.
  std::string register_pin_root = "/sys/fs/bpf/sockdoctor";
};

struct SampleRequest {
  std::uint32_t state_mask = core::kAllStatesMask; // filtered in the kernel where possible
  bool ipv4 = true;
  bool ipv6 = true;
  bool owners = true;   // who holds each socket
  bool tcp_info = true; // INET_DIAG_INFO (ages of CLOSE_WAIT and held FIN_WAIT2)
  bool kernel = true;   // sysctls and counters (of every namespace dumped)
  // Exact ages and TIME_WAIT owners from a running eBPF state register (pinned by `serve` or
  // `trace --pin`), when one is readable; live samples only.
  bool traced = true;
  // Units, containers and pods: cgroup paths of orphaned sockets' cgroup ids, and the pod log
  // directories when a cgroup names a pod (live samples, or --sys-root / --pods-log-root trees).
  bool workloads = true;
  // Count in the kernel what no rule reads one by one (ESTABLISHED sockets with an fd, TIME_WAIT
  // entries) instead of listing them, and skip their owners: `check`. Only where the socket
  // iterator is used for this namespace alone; everywhere else every socket is listed.
  bool aggregate = false;
};

class Sampler {
public:
  explicit Sampler(SamplerOptions options);

  // One sample. Fails only when the sockets themselves cannot be listed (never a silently
  // partial list); owners and kernel settings that cannot be read are reported in
  // Sample::collectors and leave their part empty.
  core::Result<core::Sample> take(const SampleRequest& request);

  // The socket fds of just these processes (details copied), for cheap rescans between samples.
  core::Result<core::OwnerTable> rescan_owners(const std::vector<core::ProcessInfo>& processes);

  const SamplerOptions& options() const { return options_; }
  // A live kernel dump of sockdoctor's own namespace (kernel counters describe the same sockets).
  bool live_own_namespace() const;

private:
  struct Namespace;
  core::Result<core::CollectorStatus> collect_sockets(const SampleRequest& request,
                                                      core::Sample& sample);
  core::Result<core::CollectorStatus> dump_own(const SampleRequest& request, core::Sample& sample);
  core::Result<core::CollectorStatus> dump_namespaces(const SampleRequest& request,
                                                      core::Sample& sample);
  core::CollectorStatus scan_owners(core::OwnerTable& out, std::uint32_t skip_states = 0);
  bool summary_wanted(const SampleRequest& request);
  core::CollectorStatus read_kernel(core::Sample& sample);
  std::optional<core::CollectorStatus> read_register(core::Sample& sample);
  core::Result<std::vector<Namespace>> namespaces_to_dump();
  bool bpf_owner_scan_wanted() const;
  bool bpf_sockets_wanted(const SampleRequest& request) const;
  core::Result<DumpStats> dump_netns_bpf(const SockDiagRequest& req,
                                         std::vector<core::TcpSocket>& out,
                                         core::CollectorStatus& status);
  std::optional<core::Result<core::CollectorStatus>> dump_own_bpf(const SampleRequest& request,
                                                                  core::Sample& sample);

  SamplerOptions options_;
  bool bpf_owner_scan_failed_ = false;  // once it could not load, do not try again every sample
  bool bpf_sockets_failed_ = false;     // likewise for the socket iterator
  std::optional<int> hz_;               // CONFIG_HZ: the socket iterator's records are in jiffies
  std::optional<std::string> bpf_note_; // why the iterator was not used, until said
  std::optional<SocketCounts> counts_;  // this sample's sockstat (own namespace, live /proc)
  bool summarising_ = false;            // this sample goes through the summary mode
  std::shared_ptr<RegisterReader> register_; // kept open between samples while its host lives
  std::shared_ptr<WorkloadCache> workloads_; // cgroup paths and pods, read again on a miss
};

} // namespace sockdoctor::collect
