// Everything one observation of the host produced: sockets, their owners, and how they were read.
#pragma once

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
};

} // namespace sockdoctor::core
