// Runs the rules over one snapshot; shared lookups (ages, listeners, holders) are built once here.
#include "analyze/diagnose.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace sockdoctor::analyze {
namespace rules {

RuleContext::RuleContext(const core::Snapshot& s,
                         const core::KernelSettings& k,
                         const DiagnoseOptions& o)
    : snap(s), kernel(k), opt(o) {
  ages_.reserve(snap.sockets.size());
  for (std::size_t i = 0; i < snap.sockets.size(); ++i) {
    const auto& sock = snap.sockets[i];
    ages_.push_back(estimate_age(sock, kernel));
    if (sock.state == core::TcpState::Listen) {
      listeners_.push_back(i);
      listen_by_port_[{sock.netns_ino, sock.local.port}].push_back(i);
    }
  }
}

bool RuleContext::is_listening_port(std::uint32_t netns, std::uint16_t port) const {
  return listen_by_port_.count({netns, port}) != 0;
}

std::optional<std::size_t> RuleContext::listener_of(const core::TcpSocket& s) const {
  auto it = listen_by_port_.find({s.netns_ino, s.local.port});
  if (it == listen_by_port_.end()) return std::nullopt;
  std::optional<std::size_t> wildcard;
  for (std::size_t i : it->second) {
    const auto& l = snap.sockets[i].local.addr;
    if (l == s.local.addr) return i;
    // A v6 wildcard listener also accepts v4 clients, whose children show v4-mapped addresses.
    if (l.is_unspecified() && l.family == s.local.addr.family && !wildcard) wildcard = i;
  }
  if (wildcard) return wildcard;
  return it->second.front();
}

std::vector<const core::ProcessInfo*> RuleContext::holders(const core::TcpSocket& s) const {
  std::vector<const core::ProcessInfo*> out;
  if (s.inode == 0) return out;
  for (const auto& ref : snap.owners.owners_of(s.inode)) {
    const auto* p = &snap.owners.process(ref.process_index);
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->pid < b->pid; });
  return out;
}

std::string describe_process(const core::ProcessInfo& p) {
  return fmt::format("pid {} ({})", p.pid, p.comm);
}

ProcessRef process_ref(const core::ProcessInfo& p) {
  return ProcessRef{p.pid, p.comm, p.cmdline};
}

std::string subject(std::uint64_t n,
                    std::uint64_t total,
                    std::string_view plural_verb,
                    std::string_view singular_verb) {
  if (total == 1 && n == 1) return fmt::format("It {}", singular_verb);
  if (n == total) return fmt::format("All {} {}", n, plural_verb);
  return fmt::format("{} {}", n, n == 1 ? singular_verb : plural_verb);
}

std::vector<std::string> top_counts(const std::map<std::string, std::uint64_t>& counts,
                                    std::size_t max) {
  std::vector<std::pair<std::string, std::uint64_t>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size() && i < max; ++i)
    out.push_back(fmt::format("{} ({})", v[i].first, v[i].second));
  if (v.size() > max) out.push_back(fmt::format("+{} more", v.size() - max));
  return out;
}

} // namespace rules

namespace {

Summary summarize(const core::Snapshot& snap) {
  Summary sum;
  sum.total_sockets = snap.sockets.size();
  sum.owners_scanned = snap.owners.scanned;
  sum.owners_denied = snap.owners.denied;
  sum.owners_vanished = snap.owners.vanished;
  for (const auto& s : snap.sockets) {
    const auto st = static_cast<std::size_t>(s.state);
    if (st < sum.per_state.size()) ++sum.per_state[st];
    if (snap.owners.scanned && s.inode != 0 && snap.owners.owners_of(s.inode).empty())
      ++sum.unattributed_sockets;
  }
  return sum;
}

} // namespace

Diagnosis diagnose(const core::Snapshot& snap,
                   const core::KernelSettings& kernel,
                   const DiagnoseOptions& opt) {
  Diagnosis d;
  d.summary = summarize(snap);
  const rules::RuleContext ctx(snap, kernel, opt);
  rules::close_wait(ctx, d.findings);
  rules::time_wait(ctx, d.findings);
  rules::fin_wait2(ctx, d.findings);
  rules::queues(ctx, d.findings);
  sort_findings(d.findings);
  return d;
}

} // namespace sockdoctor::analyze
