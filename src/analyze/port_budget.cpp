// Ephemeral port policy and per-destination budgets.
#include "analyze/port_budget.hpp"

#include <algorithm>
#include <tuple>
#include <unordered_map>

#include "analyze/diagnose.hpp"
#include "analyze/kernel_model.hpp"

namespace sockdoctor::analyze {

EphemeralPorts::EphemeralPorts(const std::vector<core::TcpSocket>& sockets, KernelOf kernel_of)
    : kernel_of_(std::move(kernel_of)) {
  for (const auto& s : sockets)
    if (s.state == core::TcpState::Listen) listening_[s.netns_ino].insert(s.local.port);
}

EphemeralPorts::EphemeralPorts(const std::vector<core::TcpSocket>& sockets,
                               const std::vector<std::size_t>& listeners,
                               KernelOf kernel_of)
    : kernel_of_(std::move(kernel_of)) {
  for (std::size_t i : listeners)
    listening_[sockets[i].netns_ino].insert(sockets[i].local.port);
}

const EphemeralPorts::Netns& EphemeralPorts::netns(std::uint32_t ns) const {
  auto it = netns_.find(ns);
  if (it != netns_.end()) return it->second;
  const auto& k = kernel_of_(ns);
  Netns n;
  n.range = k.ip_local_port_range.value_or(core::PortRange{});
  int taken = 0;
  if (auto l = listening_.find(ns); l != listening_.end())
    for (std::uint16_t port : l->second)
      if (port >= n.range.low && port <= n.range.high && !reserved(ns, port)) ++taken;
  n.usable = std::max(usable_ephemeral_ports(k) - taken, 1);
  return netns_.emplace(ns, n).first->second;
}

bool EphemeralPorts::reserved(std::uint32_t ns, int port) const {
  for (const auto& [lo, hi] : kernel_of_(ns).ip_local_reserved_ports)
    if (port >= lo && port <= hi) return true;
  return false;
}

bool EphemeralPorts::listening(std::uint32_t ns, std::uint16_t port) const {
  auto it = listening_.find(ns);
  return it != listening_.end() && it->second.contains(port);
}

bool EphemeralPorts::ephemeral(const core::TcpSocket& s) const {
  const auto& r = range(s.netns_ino);
  return s.local.port >= r.low && s.local.port <= r.high && !reserved(s.netns_ino, s.local.port) &&
         !listening(s.netns_ino, s.local.port);
}

int EphemeralPorts::usable(std::uint32_t ns) const {
  return netns(ns).usable;
}

const core::PortRange& EphemeralPorts::range(std::uint32_t ns) const {
  return netns(ns).range;
}

namespace {

void count(PortBudget& b, const core::TcpSocket& s, const Age& age) {
  if (s.state == core::TcpState::TimeWait) {
    ++b.time_wait;
    if (age.seconds)
      b.time_wait_ages.push_back(*age.seconds);
    else
      ++b.time_wait_unknown_age;
  } else if (core::is_fin_wait2_mini(s)) {
    ++b.fin_wait2;
  } else {
    ++b.live;
  }
}

void name_client(PortBudget& b, const core::TcpSocket& s, const SocketKnowledge& known) {
  if (core::is_time_wait_entry(s)) return;
  const std::int32_t pid = known.owner(s);
  if (pid <= 0) return;
  auto& c = b.clients[pid];
  ++c.connections;
  if (c.process == nullptr) c.process = known.process(pid);
}

using Budgets = std::unordered_map<rules::FlowKey, PortBudget, rules::FlowKeyHash>;

// The kernel counted these on ephemeral ports by the same rule as EphemeralPorts::ephemeral().
void add_aggregated(const core::SocketAggregate& agg,
                    const EphemeralPorts& ports,
                    Budgets& by_dest,
                    std::unordered_map<rules::FlowKey, bool, rules::FlowKeyHash>& matched) {
  for (const auto& t : agg.tuples) {
    const rules::FlowKey key{t.netns, core::Endpoint{t.source, 0}, t.destination};
    auto& b = by_dest[key];
    if (b.usable == 0) {
      b.netns = t.netns;
      b.source = t.source;
      b.destination = t.destination;
      b.usable = ports.usable(t.netns);
    }
    b.live += t.live;
    b.time_wait += t.time_wait;
    b.time_wait_unknown_age += t.time_wait;
    matched[key] = true;
  }
}

} // namespace

bool port_rule_candidate(const PortBudget& b, double warning_fraction) {
  return (b.time_wait != 0 || b.fin_wait2 != 0) && b.fraction() >= warning_fraction;
}

std::vector<PortBudget> port_budgets(const std::vector<core::TcpSocket>& sockets,
                                     std::span<const Age> ages,
                                     const EphemeralPorts& ports,
                                     const SocketKnowledge& known,
                                     const SocketMatch& match,
                                     const core::SocketAggregate* aggregate) {
  std::unordered_map<rules::FlowKey, PortBudget, rules::FlowKeyHash> by_dest;
  std::unordered_map<rules::FlowKey, bool, rules::FlowKeyHash> matched;
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const auto& s = sockets[i];
    if (s.state == core::TcpState::Listen || !ports.ephemeral(s)) continue;
    const rules::FlowKey key{s.netns_ino, core::Endpoint{s.local.addr, 0}, s.peer};
    auto& b = by_dest[key];
    if (b.usable == 0) {
      b.netns = s.netns_ino;
      b.source = s.local.addr;
      b.destination = s.peer;
      b.usable = ports.usable(s.netns_ino);
    }
    if (!match || match(s)) {
      count(b, s, ages[i]);
      matched[key] = true;
    }
    name_client(b, s, known);
  }
  if (aggregate != nullptr) add_aggregated(*aggregate, ports, by_dest, matched);
  std::vector<PortBudget> out;
  out.reserve(by_dest.size());
  for (auto& [key, b] : by_dest)
    if (matched.contains(key)) out.push_back(std::move(b));
  std::sort(out.begin(), out.end(), [](const PortBudget& a, const PortBudget& b) {
    if (a.fraction() != b.fraction()) return a.fraction() > b.fraction();
    const auto da = core::to_string(a.destination), db = core::to_string(b.destination);
    if (da != db) return da < db;
    return core::to_string(a.source) < core::to_string(b.source);
  });
  return out;
}

} // namespace sockdoctor::analyze
