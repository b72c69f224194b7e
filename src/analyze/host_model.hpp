// The one analysed model of a sample: every socket's age with its basis, the listeners, who holds
// the stuck sockets, the ephemeral port budgets, the causes of TIME_WAIT, and the findings.
// `check`, `ls`, `top` and `serve` render it; renderers never compute any of it themselves.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "analyze/attribution.hpp"
#include "analyze/diagnose.hpp"
#include "analyze/port_budget.hpp"
#include "analyze/socket_knowledge.hpp"
#include "analyze/workload.hpp"
#include "core/sample.hpp"

namespace sockdoctor::analyze {

struct HostModelOptions {
  DiagnoseOptions diagnose;
  bool findings = true;  // run the rules
  bool sections = true;  // holders, TIME_WAIT causes; port budgets (also when the rules run)
  bool workloads = true; // the workload table (owners' and orphans' units, containers, pods)
  bool closers = false;  // who closed each socket without an fd (needs the eBPF register): ls
  // false: no `ages` vector (16 bytes a socket); age_at() computes one when asked. Only when
  // neither the findings nor the sections are built (they read every age): ls, which renders
  // each age once. Then `known` passed to build_host_model must outlive the model.
  bool ages = true;
};

// The process that closed a socket that has no fd now (TIME_WAIT, FIN_WAIT2 mini-socket,
// orphan), as the eBPF register recorded it in that process's close() or shutdown().
struct SocketCloser {
  std::uint32_t socket = 0; // index into snapshot().sockets
  std::int32_t pid = 0;
  std::string comm; // attacker-controlled: escape on output
};

struct HostModel {
  std::shared_ptr<const core::Sample> sample;
  std::vector<Age> ages;              // parallel to sample->snapshot.sockets (see options.ages)
  std::vector<std::size_t> listeners; // indices of LISTEN sockets
  std::vector<StuckHolder> holders;   // most CLOSE_WAIT + FIN_WAIT2 first, then by pid
  std::vector<PortBudget> budgets;    // fullest first
  std::vector<TimeWaitCause> time_wait;
  std::vector<SocketCloser> closers; // by socket index; only with options.closers and a register
  WorkloadTable workloads;           // unit, container, pod of each owner and of orphans' cgroups
  Diagnosis diagnosis;               // findings (most severe first) and the summary
  // The sample counted sockets in the kernel (Sample::aggregate) that a finding would have to
  // read one by one (a port budget the port rule examines): take the sample again with every
  // socket listed, and analyse that one instead.
  bool needs_records = false;

  const core::Snapshot& snapshot() const { return sample->snapshot; }
  // Settings of sockdoctor's own namespace; the kernel defaults when they could not be read.
  const core::KernelSettings& kernel() const { return kernel_; }
  // Settings of a namespace's sockets (its own with --all-netns, else sockdoctor's).
  const core::KernelSettings& kernel_of(std::uint32_t netns) const;
  // The age of snapshot().sockets[i]: from `ages`, or computed now without them.
  Age age_at(std::size_t i) const;

  core::KernelSettings kernel_;
  // What the ages come from (the sample, the register, top's tracker), for age_at().
  std::shared_ptr<const SocketKnowledge> knowledge_;
};

// What one sample alone says about its sockets: owners from its owner table (the lowest pid when
// shared), no earlier holders, ages from the sample (estimate_age).
class SampleKnowledge : public SocketKnowledge {
public:
  explicit SampleKnowledge(const core::Snapshot& snap);
  std::int32_t owner(const core::TcpSocket& s) const override;
  std::int32_t last_holder(const core::TcpSocket&) const override { return 0; }
  const core::ProcessInfo* process(std::int32_t pid) const override;
  Age age(const core::TcpSocket& s, const core::KernelSettings& k) const override;

private:
  const core::Snapshot& snap_;
  std::unordered_map<std::int32_t, const core::ProcessInfo*> by_pid_;
};

// Analyses one sample. `known` adds what was learned beyond it (top's tracker, the eBPF
// register); nullptr: the sample alone.
HostModel build_host_model(std::shared_ptr<const core::Sample> sample,
                           const HostModelOptions& options = {},
                           const SocketKnowledge* known = nullptr);

// Ages of every socket of a snapshot, from `known` (or the sample alone).
std::vector<Age> socket_ages(const core::Snapshot& snap,
                             const core::KernelSettings& kernel,
                             const SocketKnowledge& known);

} // namespace sockdoctor::analyze
