// One sample of the host, as collect::Sampler takes it: the snapshot (sockets, owners,
// namespaces), kernel settings and counters, and how each collector fared, as data.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/kernel_settings.hpp"
#include "core/snapshot.hpp"
#include "core/socket_aggregate.hpp"
#include "core/tcp_state.hpp"
#include "core/traced_socket.hpp"

namespace sockdoctor::core {

using StateCounts = std::array<std::uint64_t, kMaxTcpState + 1>; // indexed by TcpState

// What the eBPF state register (hosted by `sockdoctor serve` or `trace`, read through its pins)
// knew of the listed sockets when the sample was taken: exact state entry times and the owner
// learned in syscall context, by socket cookie. Sockets older than the register are absent.
struct TracedView {
  RegisterInfo info;
  std::uint64_t now_boot_ns = 0; // CLOCK_BOOTTIME when the entries were read
  std::unordered_map<std::uint64_t, TracedSocket> by_cookie;
  // The register's own counters since its host started (what it forgot is counted, not
  // silent), when they could be read.
  std::optional<RegisterCounters> counters;

  const TracedSocket* find(std::uint64_t cookie) const {
    auto it = cookie == 0 ? by_cookie.end() : by_cookie.find(cookie);
    return it == by_cookie.end() ? nullptr : &it->second;
  }
};

// What one collector did for this sample (node_exporter's collector contract): `check` says what
// it could not see, `serve` exports it as ..._collector_success / _duration_seconds.
struct CollectorStatus {
  std::string name;   // "sockets", "owners", "kernel", "register"
  std::string source; // "sock_diag", "proc", "bpf", "replay:<file>", ...
  bool success = false;
  double duration_seconds = 0;
  std::optional<Error> error;     // why it failed, or why a fallback was taken
  std::uint64_t items = 0;        // sockets listed, processes scanned, namespaces dumped
  std::uint32_t retries = 0;      // dumps redone after NLM_F_DUMP_INTR / ENOBUFS
  std::uint32_t vanished = 0;     // processes or namespaces gone mid-collection (normal)
  std::uint32_t denied = 0;       // processes whose fds could not be read
  std::vector<std::string> notes; // one line each, e.g. "fell back to /proc/net/tcp: ..."
};

struct Sample {
  Snapshot snapshot;
  // Settings and counters of sockdoctor's own network namespace (nullopt: nothing readable), and
  // with --all-netns those of every namespace dumped, by inode (sysctls such as
  // ip_local_port_range are per namespace; a new one starts from the kernel defaults).
  std::optional<KernelSettings> kernel;
  std::map<std::uint32_t, KernelSettings> netns_kernel;
  std::vector<CollectorStatus> collectors;

  // States whose sockets are listed. `top`'s light samples leave ESTABLISHED and TIME_WAIT out and
  // count them from kernel counters instead; `counts` always covers every state.
  std::uint32_t listed_states = kAllStatesMask;
  StateCounts counts{};
  bool owners_partial = false;      // owners were looked up only in a few known processes
  std::optional<TracedView> traced; // a live register was readable
  // `check`'s samples through the socket iterator's summary mode: ESTABLISHED sockets with an fd
  // and TIME_WAIT entries counted in the kernel instead of listed (nor their owners looked up).
  // `counts` includes them; snapshot.sockets does not.
  std::optional<SocketAggregate> aggregate;

  bool is_complete() const { return (listed_states & kAllStatesMask) == kAllStatesMask; }
  const CollectorStatus* collector(std::string_view name) const {
    for (const auto& c : collectors)
      if (c.name == name) return &c;
    return nullptr;
  }
  // The settings that apply to sockets of namespace `netns` (0 = sockdoctor's own).
  const KernelSettings* kernel_of(std::uint32_t netns) const {
    if (auto it = netns_kernel.find(netns); it != netns_kernel.end()) return &it->second;
    return kernel ? &*kernel : nullptr;
  }
};

// Per-state counts of a list of sockets.
inline StateCounts count_states(const std::vector<TcpSocket>& sockets) {
  StateCounts c{};
  for (const auto& s : sockets)
    ++c[static_cast<std::size_t>(s.state)];
  return c;
}

} // namespace sockdoctor::core
