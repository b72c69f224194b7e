// Runs the rules over one snapshot; shared lookups (ages, listeners, holders) are built once here.
#include "analyze/diagnose.hpp"

#include "analyze/knowledge.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace sockdoctor::analyze {
namespace rules {

RuleContext::RuleContext(const core::Snapshot& s,
                         const core::KernelSettings& k,
                         const DiagnoseOptions& o,
                         std::span<const Age> ages,
                         const std::map<std::uint32_t, core::KernelSettings>* netns_kernel,
                         const std::vector<PortBudget>* budgets,
                         const core::SocketAggregate* agg)
    : snap(s), aggregate(agg), kernel(k), opt(o), workloads(s.workloads),
      netns_kernel_(netns_kernel), budgets_(budgets) {
  if (ages.size() == snap.sockets.size()) {
    ages_ = ages;
  } else {
    own_ages_.reserve(snap.sockets.size());
    for (const auto& sock : snap.sockets)
      own_ages_.push_back(estimate_age(sock, kernel));
    ages_ = own_ages_;
  }
  for (std::size_t i = 0; i < snap.sockets.size(); ++i) {
    const auto& sock = snap.sockets[i];
    if (sock.state == core::TcpState::Listen) {
      listeners_.push_back(i);
      listen_by_port_[{sock.netns_ino, sock.local.port}].push_back(i);
    }
  }
}

const core::KernelSettings& RuleContext::kernel_of(std::uint32_t netns) const {
  if (netns_kernel_ != nullptr)
    if (auto it = netns_kernel_->find(netns); it != netns_kernel_->end()) return it->second;
  return kernel;
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

const core::ProcessInfo* RuleContext::first_holder(const core::TcpSocket& s) const {
  const core::ProcessInfo* best = nullptr;
  for (const auto& ref : snap.owners.owners_of(s.inode)) {
    const auto* p = &snap.owners.process(ref.process_index);
    if (best == nullptr || p->pid < best->pid) best = p;
  }
  return best;
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

std::string unseen_holder(const RuleContext& ctx, std::uint32_t uid) {
  if (!ctx.snap.owners.scanned)
    return fmt::format("a process of uid {} (owners were not looked up)", uid);
  return fmt::format("a process sockdoctor cannot see (uid {})", uid);
}

std::string unseen_holder_remedy(const RuleContext& ctx) {
  if (!ctx.snap.owners.scanned)
    return "Run sockdoctor live without --no-owners to name the process.";
  return "Run sockdoctor as root to name the process; if it still cannot, the holder lives in "
         "another PID namespace or exited during the scan.";
}

std::string describe_process(const core::ProcessInfo& p) {
  return fmt::format("pid {} ({})", p.pid, p.comm);
}

ProcessRef process_ref(const core::ProcessInfo& p) {
  return ProcessRef{p.pid, p.comm, p.cmdline};
}

void name_holder(const RuleContext& ctx, const core::ProcessInfo* p, Finding& f) {
  if (p == nullptr) return;
  f.process = process_ref(*p);
  f.workload = ctx.workloads.of_process(*p);
}

std::size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
  // Word-wise mixing (boost::hash_combine style) with a murmur3 finaliser: called once per socket.
  std::uint64_t h = k.netns;
  auto mix = [&h](std::uint64_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
  for (const auto* e : {&k.a, &k.b}) {
    std::uint64_t lo = 0, hi = 0;
    std::memcpy(&lo, e->addr.bytes.data(), 8);
    std::memcpy(&hi, e->addr.bytes.data() + 8, 8);
    mix(lo);
    mix(hi);
    mix((static_cast<std::uint64_t>(e->addr.family) << 16) | e->port);
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<std::size_t>(h);
}

namespace {
// FlowKey.b.port = 1 marks "with port" so "10.0.0.1:0" and "10.0.0.1" never collide.
std::string endpoint_text(const FlowKey& k) {
  return k.b.port != 0 ? core::to_string(k.a) : core::to_string(k.a.addr);
}
} // namespace

void EndpointCounter::add(const core::Endpoint& e, bool with_port) {
  FlowKey k;
  k.a = e;
  if (!with_port) k.a.port = 0;
  k.b.port = with_port ? 1 : 0;
  ++counts_[k];
}

std::optional<std::string> EndpointCounter::only() const {
  if (counts_.size() != 1) return std::nullopt;
  return endpoint_text(counts_.begin()->first);
}

std::vector<std::string> EndpointCounter::top(std::size_t max) const {
  // Rank without building a string per peer: there may be a hundred thousand of them.
  using Entry = std::pair<const FlowKey*, std::uint64_t>;
  std::vector<Entry> v;
  v.reserve(counts_.size());
  for (const auto& [k, n] : counts_)
    v.emplace_back(&k, n);
  // Address bytes and port as the tie-break: the hash map's order must not leak into the output.
  auto before = [](const Entry& x, const Entry& y) {
    if (x.second != y.second) return x.second > y.second;
    const auto& a = x.first->a;
    const auto& b = y.first->a;
    if (a.addr.family != b.addr.family) return a.addr.family < b.addr.family;
    if (a.addr.bytes != b.addr.bytes) return a.addr.bytes < b.addr.bytes;
    return a.port < b.port;
  };
  const std::size_t n = std::min(max, v.size());
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), v.end(), before);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(fmt::format("{} ({})", endpoint_text(*v[i].first), v[i].second));
  if (v.size() > max) out.push_back(fmt::format("+{} more", v.size() - max));
  return out;
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

Summary summarize(const core::Snapshot& snap, const core::SocketAggregate* aggregate) {
  Summary sum;
  sum.total_sockets = snap.sockets.size();
  if (aggregate != nullptr) {
    sum.total_sockets += aggregate->total();
    for (std::size_t st = 0; st < sum.per_state.size() && st < aggregate->counts.size(); ++st)
      sum.per_state[st] += aggregate->counts[st];
  }
  sum.owners_scanned = snap.owners.scanned;
  sum.owners_denied = snap.owners.denied;
  sum.owners_denied_lacking = snap.owners.denied_lacking;
  sum.owners_vanished = snap.owners.vanished;
  for (const auto& s : snap.sockets) {
    const auto st = static_cast<std::size_t>(s.state);
    if (st < sum.per_state.size()) ++sum.per_state[st];
    if (snap.owners.scanned && s.inode != 0 && snap.owners.owners_of(s.inode).empty())
      ++sum.unattributed_sockets;
  }
  return sum;
}

Diagnosis diagnose(const core::Snapshot& snap,
                   const core::KernelSettings& kernel,
                   const DiagnoseOptions& opt,
                   std::span<const Age> ages,
                   const std::map<std::uint32_t, core::KernelSettings>* netns_kernel,
                   const std::vector<PortBudget>* budgets,
                   const core::SocketAggregate* aggregate) {
  Diagnosis d;
  d.summary = summarize(snap, aggregate);
  const rules::RuleContext ctx(snap, kernel, opt, ages, netns_kernel, budgets, aggregate);
  rules::close_wait(ctx, d.findings);
  rules::time_wait(ctx, d.findings);
  rules::fin_wait2(ctx, d.findings);
  rules::queues(ctx, d.findings);
  sort_findings(d.findings);
  const bool aged = std::any_of(d.findings.begin(), d.findings.end(),
                                [](const Finding& f) { return f.oldest_age_seconds.has_value(); });
  if (aged) d.ages_note = age_basis_note(kernel);
  return d;
}

} // namespace sockdoctor::analyze
