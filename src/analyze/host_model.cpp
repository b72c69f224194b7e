// build_host_model: ages once, then the sections and the rules over them.
#include "analyze/host_model.hpp"

#include <algorithm>
#include <optional>

#include "analyze/traced_knowledge.hpp"

namespace sockdoctor::analyze {

SampleKnowledge::SampleKnowledge(const core::Snapshot& snap) : snap_(snap) {
  by_pid_.reserve(snap.owners.processes().size());
  for (const auto& p : snap.owners.processes())
    by_pid_.emplace(p.pid, &p);
}

std::int32_t SampleKnowledge::owner(const core::TcpSocket& s) const {
  if (s.inode == 0) return kNoOwner;
  if (!snap_.owners.scanned) return kOwnerPending;
  std::int32_t best = kOwnerPending;
  for (const auto& ref : snap_.owners.owners_of(s.inode)) {
    const std::int32_t pid = snap_.owners.process(ref.process_index).pid;
    if (best == kOwnerPending || pid < best) best = pid;
  }
  return best;
}

const core::ProcessInfo* SampleKnowledge::process(std::int32_t pid) const {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : it->second;
}

Age SampleKnowledge::age(const core::TcpSocket& s, const core::KernelSettings& k) const {
  return estimate_age(s, k);
}

const core::KernelSettings& HostModel::kernel_of(std::uint32_t netns) const {
  if (sample)
    if (auto it = sample->netns_kernel.find(netns); it != sample->netns_kernel.end())
      return it->second;
  return kernel_;
}

Age HostModel::age_at(std::size_t i) const {
  if (i < ages.size()) return ages[i];
  return knowledge_->age(snapshot().sockets[i], kernel_);
}

std::vector<Age> socket_ages(const core::Snapshot& snap,
                             const core::KernelSettings& kernel,
                             const SocketKnowledge& known) {
  std::vector<Age> ages;
  ages.reserve(snap.sockets.size());
  for (const auto& s : snap.sockets)
    ages.push_back(known.age(s, kernel));
  return ages;
}

namespace {

// The knowledge a model reads, kept together on the heap so that the register's view, which
// refers to its base, stays valid while the model moves.
struct HeldKnowledge {
  HeldKnowledge(const core::Sample& sample, const SocketKnowledge* known)
      : alone(sample.snapshot), base(known != nullptr ? *known : alone) {
    if (sample.traced)
      traced.emplace(base, *sample.traced, &sample.snapshot.workloads.cgroup_paths);
  }
  const SocketKnowledge& effective() const {
    return traced ? static_cast<const SocketKnowledge&>(*traced) : base;
  }

  SampleKnowledge alone;
  const SocketKnowledge& base;
  std::optional<TracedKnowledge> traced;
};

void sort_holders(std::vector<StuckHolder>& holders) {
  std::sort(holders.begin(), holders.end(), [](const StuckHolder& a, const StuckHolder& b) {
    const auto na = a.close_wait + a.fin_wait2, nb = b.close_wait + b.fin_wait2;
    if (na != nb) return na > nb;
    if (a.pid != b.pid) return a.pid < b.pid;
    return workload_key(a.workload) < workload_key(b.workload); // orphan rows, one per workload
  });
}

// Sockets without an fd whose closer the register knows, in socket order.
std::vector<SocketCloser> socket_closers(const core::Snapshot& snap, const SocketKnowledge& k) {
  std::vector<SocketCloser> out;
  for (std::uint32_t i = 0; i < snap.sockets.size(); ++i) {
    const auto& s = snap.sockets[i];
    if (s.inode != 0 || s.state == core::TcpState::Listen) continue;
    const std::int32_t pid = k.last_holder(s);
    if (pid <= 0) continue;
    const core::ProcessInfo* p = k.process(pid);
    out.push_back({i, pid, p != nullptr ? p->comm : std::string()});
  }
  return out;
}

} // namespace

HostModel build_host_model(std::shared_ptr<const core::Sample> sample,
                           const HostModelOptions& options,
                           const SocketKnowledge* known) {
  HostModel m;
  m.sample = std::move(sample);
  m.kernel_ = m.sample->kernel.value_or(core::KernelSettings{});
  const auto& snap = m.sample->snapshot;
  auto held = std::make_shared<const HeldKnowledge>(*m.sample, known);
  m.knowledge_ = std::shared_ptr<const SocketKnowledge>(held, &held->effective());
  const SocketKnowledge& k = *m.knowledge_;
  if (options.ages || options.sections || options.findings)
    m.ages = socket_ages(snap, m.kernel_, k);
  if (options.closers && held->traced) m.closers = socket_closers(snap, *held->traced);
  for (std::size_t i = 0; i < snap.sockets.size(); ++i)
    if (snap.sockets[i].state == core::TcpState::Listen) m.listeners.push_back(i);
  // What no renderer of this model shows is not built: check prints findings only, so it skips
  // the holders, the TIME_WAIT causes and the workload table (the rules resolve workloads
  // themselves), but the rules read the port budgets.
  std::optional<WorkloadResolver> workloads;
  if (options.sections || options.workloads) workloads.emplace(snap.workloads);
  if (options.workloads) m.workloads = workload_table(snap, *workloads);
  const bool budgets = options.sections || options.findings;
  if (budgets) {
    const EphemeralPorts ports(
        snap.sockets, m.listeners,
        [&m](std::uint32_t ns) -> const core::KernelSettings& { return m.kernel_of(ns); });
    const core::SocketAggregate* agg = m.sample->aggregate ? &*m.sample->aggregate : nullptr;
    m.budgets = port_budgets(snap.sockets, m.ages, ports, k, nullptr, agg);
    if (agg != nullptr)
      m.needs_records = std::any_of(m.budgets.begin(), m.budgets.end(), [&](const PortBudget& b) {
        return port_rule_candidate(b, options.diagnose.port_warning_fraction);
      });
  }
  if (options.sections) {
    m.holders = stuck_holders(
        snap.sockets, m.sample->listed_states, [&m](std::size_t i) { return m.ages[i]; }, k,
        nullptr, &*workloads);
    sort_holders(m.holders);
    m.time_wait = time_wait_causes(snap.sockets, m.ages, m.budgets, k, nullptr, &*workloads);
  }
  if (options.findings) {
    m.diagnosis = diagnose(snap, m.kernel_, options.diagnose, m.ages, &m.sample->netns_kernel,
                           budgets ? &m.budgets : nullptr,
                           m.sample->aggregate ? &*m.sample->aggregate : nullptr);
  } else {
    m.diagnosis.summary = summarize(snap, m.sample->aggregate ? &*m.sample->aggregate : nullptr);
  }
  return m;
}

} // namespace sockdoctor::analyze
