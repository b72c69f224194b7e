// The ephemeral port budget (kernel-facts section 9): which local ports connect() may have
// picked, and per (netns, source address, destination) how many of them are taken by open
// connections, TIME_WAIT entries and orphaned FIN_WAIT2 mini-sockets. `check`'s port rule,
// `top`'s destinations and `serve`'s headroom series all read this one computation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "analyze/age.hpp"
#include "analyze/socket_knowledge.hpp"
#include "core/sample.hpp"

namespace sockdoctor::analyze {

// The settings that apply to a namespace's sockets (ip_local_port_range and the reserved ports
// are per network namespace).
using KernelOf = std::function<const core::KernelSettings&(std::uint32_t netns)>;

// Ports connect() may have picked: in ip_local_port_range, not in ip_local_reserved_ports, and
// not a port a listener of the same namespace holds.
class EphemeralPorts {
public:
  EphemeralPorts(const std::vector<core::TcpSocket>& sockets, KernelOf kernel_of);
  // The same from the indices of the LISTEN sockets among `sockets`, already known (the host
  // model's, the rules'): no pass over every socket.
  EphemeralPorts(const std::vector<core::TcpSocket>& sockets,
                 const std::vector<std::size_t>& listeners,
                 KernelOf kernel_of);

  bool ephemeral(const core::TcpSocket& s) const;
  bool listening(std::uint32_t netns, std::uint16_t port) const;
  // P of kernel-facts section 9: range minus reserved minus ports held by listeners (>= 1).
  int usable(std::uint32_t netns) const;
  const core::PortRange& range(std::uint32_t netns) const;

private:
  struct Netns {
    core::PortRange range;
    int usable = 0;
  };
  const Netns& netns(std::uint32_t ns) const;
  bool reserved(std::uint32_t netns, int port) const;

  KernelOf kernel_of_;
  std::map<std::uint32_t, std::set<std::uint16_t>> listening_;
  mutable std::map<std::uint32_t, Netns> netns_;
};

struct PortClient {
  std::uint64_t connections = 0;              // open connections toward the destination
  const core::ProcessInfo* process = nullptr; // nullptr when the knowledge has no details
};

struct PortBudget {
  std::uint32_t netns = 0;
  core::IpAddress source;
  core::Endpoint destination;
  std::uint64_t time_wait = 0;                // TIME_WAIT entries
  std::uint64_t fin_wait2 = 0;                // orphaned FIN_WAIT2 mini-sockets
  std::uint64_t live = 0;                     // every other socket (open connections)
  std::vector<double> time_wait_ages;         // known ages of the TIME_WAIT entries
  std::uint64_t time_wait_unknown_age = 0;    // TIME_WAIT entries of unknown age
  std::map<std::int32_t, PortClient> clients; // holders of the open connections, by pid
  int usable = 0;

  std::uint64_t in_use() const { return time_wait + fin_wait2 + live; }
  double fraction() const { return usable > 0 ? static_cast<double>(in_use()) / usable : 0; }
};

using SocketMatch = std::function<bool(const core::TcpSocket&)>;

// Sockets on ephemeral ports grouped by (netns, source address, destination endpoint), fullest
// first (then by destination and source). `ages` is parallel to `sockets`. With `match`, only
// matching sockets are counted (a destination none of whose sockets match is left out); clients
// are named from every socket. `aggregate`: sockets counted in the kernel, added to the counts
// (their TIME_WAIT entries of unknown age, their holders not named: see needs_records()).
std::vector<PortBudget> port_budgets(const std::vector<core::TcpSocket>& sockets,
                                     std::span<const Age> ages,
                                     const EphemeralPorts& ports,
                                     const SocketKnowledge& known,
                                     const SocketMatch& match = nullptr,
                                     const core::SocketAggregate* aggregate = nullptr);

// Whether a budget is one the port rule looks at closely (TIME_WAIT ages, timestamps, the
// holders of the open connections): with aggregated sockets in the sample, the sample must be
// taken again with every socket listed for the findings to be those of a full listing.
bool port_rule_candidate(const PortBudget& b, double warning_fraction);

} // namespace sockdoctor::analyze
