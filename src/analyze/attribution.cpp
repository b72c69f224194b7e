// Stuck-socket holders and TIME_WAIT causes.
#include "analyze/attribution.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "analyze/diagnose.hpp"

namespace sockdoctor::analyze {
namespace {

using core::TcpState;

Age older(const Age& a, const Age& b) {
  if (!a.seconds) return b;
  if (!b.seconds) return a;
  return *b.seconds > *a.seconds ? b : a;
}

bool listed_state(std::uint32_t mask, TcpState s) {
  return (mask & core::state_bit(s)) != 0;
}

using PortKey = std::pair<std::uint32_t, std::uint16_t>; // netns, port

// Who caused one TIME_WAIT entry, best evidence first: the cookie seen alive with its process,
// the listener whose port it is (our server closed first), the only client of that destination.
TimeWaitCause
cause_of(const core::TcpSocket& s,
         const std::map<PortKey, std::int32_t>& listeners,
         const std::unordered_map<rules::FlowKey, const PortBudget*, rules::FlowKeyHash>& budgets,
         const SocketKnowledge& known) {
  TimeWaitCause r;
  if (const std::int32_t h = known.last_holder(s); h > 0) {
    r.how = Attribution::Traced;
    r.pid = h; // one row per process, whatever the peer
  } else if (auto l = listeners.find({s.netns_ino, s.local.port}); l != listeners.end()) {
    r.how = Attribution::Listener;
    r.pid = std::max(l->second, 0);
    r.where = fmt::format("port {}", s.local.port);
  } else {
    auto b = budgets.find(rules::FlowKey{s.netns_ino, core::Endpoint{s.local.addr, 0}, s.peer});
    const bool sole = b != budgets.end() && b->second->clients.size() == 1;
    r.how = sole ? Attribution::SoleClient : Attribution::Unknown;
    r.pid = sole ? b->second->clients.begin()->first : 0;
    r.where = "-> " + core::to_string(s.peer);
  }
  return r;
}

} // namespace

std::string_view attribution_name(Attribution a) {
  switch (a) {
  case Attribution::Traced:
    return "traced";
  case Attribution::Listener:
    return "listener";
  case Attribution::SoleClient:
    return "sole_client";
  case Attribution::Unknown:
    return "unknown";
  }
  return "unknown";
}

std::vector<StuckHolder> stuck_holders(const std::vector<core::TcpSocket>& sockets,
                                       std::uint32_t listed,
                                       const AgeOf& age_of,
                                       const SocketKnowledge& known,
                                       const SocketMatch& match,
                                       const WorkloadResolver* workloads) {
  std::unordered_map<std::int32_t, StuckHolder> by_pid;
  // Orphans (no fd) one row per workload of their cgroup; looked up once per cgroup id.
  std::map<std::string, StuckHolder> orphans;
  std::unordered_map<std::uint64_t, StuckHolder*> orphan_row;
  auto row_of = [&](const core::TcpSocket& s, std::int32_t pid) -> StuckHolder& {
    if (pid != kNoOwner || workloads == nullptr) return by_pid[pid];
    auto [it, fresh] = orphan_row.try_emplace(s.cgroup_id, nullptr);
    if (fresh) {
      core::Workload w = workloads->of_orphan(s);
      auto& row = orphans[workload_key(w)];
      row.workload = std::move(w);
      it->second = &row;
    }
    return *it->second;
  };
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const auto& s = sockets[i];
    if (s.state != TcpState::CloseWait && s.state != TcpState::FinWait2) continue;
    if (!listed_state(listed, s.state) || (match && !match(s))) continue;
    const std::int32_t pid = known.owner(s);
    auto& r = row_of(s, pid);
    r.pid = pid;
    ++(s.state == TcpState::CloseWait ? r.close_wait : r.fin_wait2);
    r.oldest = older(r.oldest, age_of(i));
  }
  std::vector<StuckHolder> out;
  out.reserve(by_pid.size() + orphans.size());
  for (auto& [pid, r] : by_pid) {
    if (const auto* p = pid > 0 ? known.process(pid) : nullptr) {
      r.comm = p->comm;
      if (workloads != nullptr) r.workload = workloads->of_process(*p);
    }
    out.push_back(std::move(r));
  }
  for (auto& [key, r] : orphans)
    out.push_back(std::move(r));
  return out;
}

std::vector<TimeWaitCause> time_wait_causes(const std::vector<core::TcpSocket>& sockets,
                                            std::span<const Age> ages,
                                            const std::vector<PortBudget>& budgets,
                                            const SocketKnowledge& known,
                                            const SocketMatch& match,
                                            const WorkloadResolver* workloads) {
  std::map<PortKey, std::int32_t> listeners; // -> owner pid (0 unknown)
  for (const auto& s : sockets)
    if (s.state == TcpState::Listen) listeners[{s.netns_ino, s.local.port}] = known.owner(s);
  std::unordered_map<rules::FlowKey, const PortBudget*, rules::FlowKeyHash> by_dest;
  for (const auto& b : budgets)
    by_dest[rules::FlowKey{b.netns, core::Endpoint{b.source, 0}, b.destination}] = &b;

  using RowKey = std::tuple<int, std::int32_t, std::string>; // attribution, pid, where
  std::map<RowKey, TimeWaitCause> rows;
  std::map<RowKey, std::set<std::string>> places; // a traced process's destinations
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const auto& s = sockets[i];
    if (s.state != TcpState::TimeWait || (match && !match(s))) continue;
    const TimeWaitCause r = cause_of(s, listeners, by_dest, known);
    const RowKey key{static_cast<int>(r.how), r.pid, r.where};
    auto& row = rows[key];
    if (row.time_wait == 0) {
      row = r;
      if (const auto* p = r.pid > 0 ? known.process(r.pid) : nullptr) {
        row.comm = p->comm;
        if (workloads != nullptr) row.workload = workloads->of_process(*p);
      }
    }
    if (r.how == Attribution::Traced) places[key].insert("-> " + core::to_string(s.peer));
    ++row.time_wait;
    row.oldest = older(row.oldest, ages[i]);
  }
  for (const auto& [key, set] : places) {
    auto& where = rows[key].where;
    where = *set.begin();
    if (set.size() > 1) where += fmt::format(" (+{} more)", set.size() - 1);
  }
  std::vector<TimeWaitCause> out;
  for (auto& [k, r] : rows)
    out.push_back(std::move(r));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.time_wait != b.time_wait ? a.time_wait > b.time_wait : a.pid < b.pid;
  });
  return out;
}

} // namespace sockdoctor::analyze
