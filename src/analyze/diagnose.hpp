// `check`: runs every rule over one snapshot and returns the findings, most severe first.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "analyze/age.hpp"
#include "analyze/findings.hpp"
#include "analyze/workload.hpp"
#include "core/kernel_settings.hpp"
#include "core/snapshot.hpp"
#include "core/socket_aggregate.hpp"

namespace sockdoctor::analyze {

struct PortBudget; // port_budget.hpp

struct DiagnoseOptions {
  double min_age_seconds = 60; // CLOSE_WAIT / half-closed FIN_WAIT2 younger than this are normal
  std::uint64_t close_wait_critical_count = 100; // per process
  double fd_critical_fraction = 0.8;             // of RLIMIT_NOFILE
  double port_warning_fraction = 0.5;            // of the ephemeral ports toward one destination
  double port_critical_fraction = 0.9;
  double limit_warning_fraction = 0.5; // tcp_max_tw_buckets, tcp_max_orphans
  double limit_critical_fraction = 0.9;
  std::uint64_t orphan_fin_wait2_info_count = 100; // per peer, bounded by tcp_fin_timeout
  std::size_t max_listed = 5;                      // peers, processes listed in evidence
};

// Runs every rule. `ages` parallel to snap.sockets (computed here when empty); `netns_kernel`:
// the settings of each namespace's sockets (--all-netns), else `kernel` applies to all;
// `aggregate`: the sockets counted in the kernel instead of listed (Sample::aggregate).
Diagnosis diagnose(const core::Snapshot& snap,
                   const core::KernelSettings& kernel,
                   const DiagnoseOptions& opt = {},
                   std::span<const Age> ages = {},
                   const std::map<std::uint32_t, core::KernelSettings>* netns_kernel = nullptr,
                   const std::vector<PortBudget>* budgets = nullptr,
                   const core::SocketAggregate* aggregate = nullptr);

// Counts per state (the aggregated sockets included) and what the owner scan saw; no rules.
// Unattributed sockets are counted among the listed ones: owners of aggregated ones are not
// looked up.
Summary summarize(const core::Snapshot& snap, const core::SocketAggregate* aggregate = nullptr);

namespace rules {

// What every rule needs, computed once: ages, listeners, owners.
class RuleContext {
public:
  RuleContext(const core::Snapshot& snap,
              const core::KernelSettings& kernel,
              const DiagnoseOptions& opt,
              std::span<const Age> ages = {},
              const std::map<std::uint32_t, core::KernelSettings>* netns_kernel = nullptr,
              const std::vector<PortBudget>* budgets = nullptr,
              const core::SocketAggregate* aggregate = nullptr);

  const core::Snapshot& snap;
  const core::SocketAggregate* aggregate; // sockets counted, not listed (nullptr: none)
  const core::KernelSettings& kernel;     // sockdoctor's own namespace
  const DiagnoseOptions& opt;
  const WorkloadResolver workloads; // units, containers, pods of holders and orphans

  // The settings that apply to a namespace's sockets.
  const core::KernelSettings& kernel_of(std::uint32_t netns) const;

  const Age& age(std::size_t socket_index) const { return ages_[socket_index]; }
  std::span<const Age> ages() const { return ages_; }
  // Port budgets already computed over the same sockets (the host model's), or nullptr.
  const std::vector<PortBudget>* budgets() const { return budgets_; }
  // A LISTEN socket in the same netns binds this port (any address).
  bool is_listening_port(std::uint32_t netns, std::uint16_t port) const;
  // The LISTEN socket that s (an unaccepted child) belongs to: same netns, same port, same
  // address or a wildcard one. Index into snap.sockets.
  std::optional<std::size_t> listener_of(const core::TcpSocket& s) const;
  // The holder with the lowest pid, or nullptr (no allocation: called once per socket).
  const core::ProcessInfo* first_holder(const core::TcpSocket& s) const;
  // Processes holding s, lowest pid first, each once.
  std::vector<const core::ProcessInfo*> holders(const core::TcpSocket& s) const;
  // Indices of LISTEN sockets.
  const std::vector<std::size_t>& listeners() const { return listeners_; }

private:
  std::span<const Age> ages_;
  std::vector<Age> own_ages_; // when the caller gave none
  const std::map<std::uint32_t, core::KernelSettings>* netns_kernel_ = nullptr;
  const std::vector<PortBudget>* budgets_ = nullptr;
  std::vector<std::size_t> listeners_;
  std::map<std::pair<std::uint32_t, std::uint16_t>, std::vector<std::size_t>> listen_by_port_;
};

// "a process sockdoctor cannot see (uid 0)", or "(owners not looked up)" after --no-owners/replay.
std::string unseen_holder(const RuleContext& ctx, std::uint32_t uid);
// What to do about an unseen holder, matching the reason above.
std::string unseen_holder_remedy(const RuleContext& ctx);

// "pid 1234 (java)" from raw data; renderers escape the whole text.
std::string describe_process(const core::ProcessInfo& p);
ProcessRef process_ref(const core::ProcessInfo& p);
// The finding's process and its unit, container and pod; nothing when p is nullptr.
void name_holder(const RuleContext& ctx, const core::ProcessInfo* p, Finding& f);
// (netns, endpoint, endpoint) as a hash key: 4-tuples, destinations, peers. Rules look up one per
// socket, so this must stay cheap at a million sockets (no strings).
struct FlowKey {
  std::uint32_t netns = 0;
  core::Endpoint a, b;
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};
struct FlowKeyHash {
  std::size_t operator()(const FlowKey& k) const noexcept;
};

// Counts sockets per peer without building a string per socket; strings only for the top few.
class EndpointCounter {
public:
  // with_port false: count per address (clients of a server use random ports).
  void add(const core::Endpoint& e, bool with_port);
  std::size_t distinct() const { return counts_.size(); }
  // The only endpoint counted, as text; nullopt unless exactly one.
  std::optional<std::string> only() const;
  // "a (3)", "b (1)", ..., "+N more", most frequent first.
  std::vector<std::string> top(std::size_t max) const;

private:
  std::unordered_map<FlowKey, std::uint64_t, FlowKeyHash> counts_;
};

// sk_acceptq_is_full() is "backlog > max": a full queue shows Recv-Q = Send-Q + 1. Listeners
// with backlog 0 and nothing queued are not full.
inline bool listener_full(const core::TcpSocket& l) {
  return l.state == core::TcpState::Listen && l.recv_q > 0 && l.recv_q >= l.send_q;
}

// Subject and verb for n of total sockets: "It has" (total 1), "All 3 have", "2 have", "1 has".
std::string subject(std::uint64_t n,
                    std::uint64_t total,
                    std::string_view plural_verb,
                    std::string_view singular_verb);
// "a (3), b (1)" for the first max entries of counts sorted by count; "+N more" after.
std::vector<std::string> top_counts(const std::map<std::string, std::uint64_t>& counts,
                                    std::size_t max);

void close_wait(const RuleContext& ctx, std::vector<Finding>& out); // rules_close_wait.cpp
void time_wait(const RuleContext& ctx, std::vector<Finding>& out);  // rules_time_wait.cpp
void fin_wait2(const RuleContext& ctx, std::vector<Finding>& out);  // rules_fin_wait.cpp
void queues(const RuleContext& ctx, std::vector<Finding>& out);     // rules_queues.cpp

} // namespace rules
} // namespace sockdoctor::analyze
