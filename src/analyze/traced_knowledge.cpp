// TracedKnowledge: exact ages and closers from the register, the base knowledge otherwise.
#include "analyze/traced_knowledge.hpp"

#include <algorithm>

namespace sockdoctor::analyze {

TracedKnowledge::TracedKnowledge(const SocketKnowledge& base,
                                 const core::TracedView& traced,
                                 const std::unordered_map<std::uint64_t, std::string>* cgroup_paths)
    : base_(base), traced_(traced) {
  for (const auto& [cookie, e] : traced.by_cookie) {
    if (!e.owner.known() || seen_.contains(e.owner.pid)) continue;
    core::ProcessInfo p;
    p.pid = e.owner.pid;
    p.uid = e.owner.uid;
    p.comm = e.owner.comm;
    if (cgroup_paths != nullptr)
      if (auto it = cgroup_paths->find(e.owner.cgroup_id); it != cgroup_paths->end())
        p.cgroup = it->second;
    seen_.emplace(p.pid, std::move(p));
  }
}

std::int32_t TracedKnowledge::last_holder(const core::TcpSocket& s) const {
  if (const std::int32_t pid = base_.last_holder(s); pid > 0) return pid;
  // A TIME_WAIT entry or an orphan has no fd: the process that called close() is the cause.
  const auto* e = traced_.find(s.cookie);
  return e != nullptr && e->closed_by_owner() ? e->owner.pid : 0;
}

const core::ProcessInfo* TracedKnowledge::process(std::int32_t pid) const {
  if (const auto* p = base_.process(pid)) return p;
  auto it = seen_.find(pid);
  return it == seen_.end() ? nullptr : &it->second;
}

Age TracedKnowledge::age(const core::TcpSocket& s, const core::KernelSettings& k) const {
  const auto* e = traced_.find(s.cookie);
  if (e == nullptr) return base_.age(s, k);
  if (auto ns = core::traced_age_ns(*e, s.state, traced_.now_boot_ns))
    return Age{static_cast<double>(*ns) / 1e9, AgeBasis::Traced, false};
  // A FIN_WAIT2 mini-socket that got its peer's FIN since (the register alone does not see that
  // change): TIME_WAIT began after the traced FIN_WAIT2 did, and no later than its timer says.
  Age a = base_.age(s, k);
  if (s.state == core::TcpState::TimeWait && e->mini_socket &&
      e->state == core::TcpState::FinWait2 && e->entered_exact && a.seconds &&
      traced_.now_boot_ns >= e->entered_boot_ns) {
    const double most = static_cast<double>(traced_.now_boot_ns - e->entered_boot_ns) / 1e9;
    a.seconds = std::min(*a.seconds, most);
    a.basis = AgeBasis::Traced;
    a.lower_bound = *a.seconds < most;
  }
  return a;
}

} // namespace sockdoctor::analyze
