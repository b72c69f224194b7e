// Everything one observation of the host produced: sockets, their owners, and how they were read.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/owner.hpp"
#include "core/socket.hpp"
#include "core/workload.hpp"

namespace sockdoctor::core {

struct NetnsInfo {
  std::uint32_t inode = 0;
  std::string name; // "/run/netns" name or a container id; empty if none is known
};

struct Snapshot {
  std::vector<TcpSocket> sockets;
  OwnerTable owners;
  std::vector<NetnsInfo> namespaces;
  std::chrono::system_clock::time_point taken_at{};
  std::string source;        // "sock_diag", "proc", "replay:<file>"
  WorkloadSources workloads; // to name units, containers and pods (analyze/workload.hpp)
  // Sockets bound to a device, sorted by cookie (sock_diag reports them; the socket iterator
  // does not, and kill dumps with sock_diag).
  std::vector<BoundDevice> bound_devices;

  // The ifindex a socket is bound to; 0 = none or unknown.
  std::uint32_t bound_ifindex(std::uint64_t cookie) const {
    auto it = std::lower_bound(bound_devices.begin(), bound_devices.end(), cookie,
                               [](const BoundDevice& b, std::uint64_t c) { return b.cookie < c; });
    return it != bound_devices.end() && it->cookie == cookie ? it->ifindex : 0;
  }
};

} // namespace sockdoctor::core
