// Who holds the stuck sockets and who caused the TIME_WAIT entries: per-process aggregates that
// `check`, `top` and `serve` show. TIME_WAIT entries have no fd, so their cause is inferred,
// best evidence first, and the evidence is named.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyze/age.hpp"
#include "analyze/port_budget.hpp"
#include "analyze/socket_knowledge.hpp"
#include "analyze/workload.hpp"
#include "core/workload.hpp"

namespace sockdoctor::analyze {

// CLOSE_WAIT and FIN_WAIT2 sockets per holding process (kOwnerPending / kNoOwner rows for
// sockets no scan has named / with no fd; kNoOwner rows one per workload of the orphans' cgroups).
struct StuckHolder {
  std::int32_t pid = kOwnerPending;
  std::string comm; // raw
  std::uint64_t close_wait = 0;
  std::uint64_t fin_wait2 = 0;
  Age oldest; // oldest CLOSE_WAIT / FIN_WAIT2 socket it holds
  // Unit, container, pod of the holder (from its cgroup; for orphans without an fd, from the
  // socket's INET_DIAG_CGROUP_ID). Empty when unknown.
  core::Workload workload;
};

using AgeOf = std::function<Age(std::size_t socket_index)>;

// Unsorted (callers order by their own key). Sockets of states outside `listed` are skipped (a
// light sample does not list them). `workloads` (nullptr: none) names the units, containers and
// pods.
std::vector<StuckHolder> stuck_holders(const std::vector<core::TcpSocket>& sockets,
                                       std::uint32_t listed,
                                       const AgeOf& age_of,
                                       const SocketKnowledge& known,
                                       const SocketMatch& match = nullptr,
                                       const WorkloadResolver* workloads = nullptr);

enum class Attribution : std::uint8_t {
  Traced,     // the same cookie was seen alive, held by this process
  Listener,   // the local port is a listener's: this host's server closed first
  SoleClient, // the only process with live connections to that destination
  Unknown,    // a short-lived client connection never seen alive
};
std::string_view attribution_name(Attribution a); // "traced", "listener", "sole_client", "unknown"

struct TimeWaitCause {
  std::int32_t pid = 0; // 0 when unknown
  std::string comm;     // raw
  Attribution how = Attribution::Unknown;
  std::string where; // "port 80" (listener), "-> 10.0.0.5:5432" (destination)
  std::uint64_t time_wait = 0;
  Age oldest;
  core::Workload workload; // of the closing process, when known
};

// TIME_WAIT entries grouped by cause, most first. `ages` is parallel to `sockets`; `budgets`
// (from port_budgets over the same sockets) name a destination's only client.
std::vector<TimeWaitCause> time_wait_causes(const std::vector<core::TcpSocket>& sockets,
                                            std::span<const Age> ages,
                                            const std::vector<PortBudget>& budgets,
                                            const SocketKnowledge& known,
                                            const SocketMatch& match = nullptr,
                                            const WorkloadResolver* workloads = nullptr);

} // namespace sockdoctor::analyze
