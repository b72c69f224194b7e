// Rule: FIN_WAIT2, orphaned (bounded by tcp_fin_timeout) versus half-closed and held by a process
// (unbounded) (kernel-facts section 7).
#include <algorithm>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "analyze/diagnose.hpp"
#include "analyze/kernel_model.hpp"
#include "core/duration.hpp"

namespace sockdoctor::analyze::rules {
namespace {

struct Group {
  bool orphaned = false;
  const core::ProcessInfo* process = nullptr;
  std::uint32_t uid = 0;
  std::string service; // orphans: the peer endpoint, or "clients of <local>"
  std::uint64_t count = 0, aged = 0, keepalive = 0;
  std::optional<double> oldest;
  bool oldest_traced = false;  // exact: the eBPF state register saw it enter FIN_WAIT2
  std::uint64_t cgroup_id = 0; // orphans: the cgroup they were created in, if all share one
  bool cgroups_differ = false;
  EndpointCounter peers;
  std::map<std::string, std::uint64_t> local_peers; // "pid 7 (x), CLOSE_WAIT" -> count
};

// The local socket at the other end of s, if both ends live in this snapshot.
class LocalPeers {
public:
  explicit LocalPeers(const RuleContext& ctx) : ctx_(ctx) {}
  void want(std::size_t i) { wanted_.push_back(i); }
  void resolve() {
    std::unordered_map<FlowKey, std::size_t, FlowKeyHash> by_pair;
    by_pair.reserve(wanted_.size());
    for (std::size_t i : wanted_) {
      const auto& s = ctx_.snap.sockets[i];
      by_pair.emplace(FlowKey{s.netns_ino, s.peer, s.local}, i);
    }
    if (by_pair.empty()) return;
    // Cheap prefilter: most sockets cannot be the other end because their local port is not a
    // peer port of any FIN_WAIT2 socket, so skip the hash lookup for them.
    std::vector<bool> peer_ports(65536, false);
    for (std::size_t i : wanted_)
      peer_ports[ctx_.snap.sockets[i].peer.port] = true;
    for (std::size_t j = 0; j < ctx_.snap.sockets.size(); ++j) {
      const auto& s = ctx_.snap.sockets[j];
      if (!peer_ports[s.local.port]) continue;
      auto it = by_pair.find(FlowKey{s.netns_ino, s.local, s.peer});
      if (it != by_pair.end() && it->second != j) found_[it->second] = j;
    }
  }
  // "pid 7 (x), CLOSE-WAIT" or "no process, CLOSE-WAIT"; empty if the peer is not local.
  std::string describe(std::size_t i) const {
    auto it = found_.find(i);
    if (it == found_.end()) return {};
    const auto& p = ctx_.snap.sockets[it->second];
    const auto holders = ctx_.holders(p);
    const std::string who = holders.empty()
                                ? (p.inode == 0 ? std::string("no process") : "an unseen process")
                                : describe_process(*holders.front());
    return fmt::format("{} in {}", who, core::ss_name(p.state));
  }

private:
  const RuleContext& ctx_;
  std::vector<std::size_t> wanted_;
  std::unordered_map<std::size_t, std::size_t> found_;
};

// Held sockets group per holder; orphans per service (the peer, or our listening endpoint).
struct Groups {
  std::map<std::pair<int, std::int64_t>, Group> held;
  std::unordered_map<FlowKey, Group, FlowKeyHash> orphans;

  Group& of(const RuleContext& ctx, const core::TcpSocket& s) {
    if (s.inode == 0) {
      const bool server = ctx.is_listening_port(s.netns_ino, s.local.port);
      const FlowKey key =
          server ? FlowKey{s.netns_ino, s.local, {}} : FlowKey{s.netns_ino, {}, s.peer};
      auto [it, fresh] = orphans.try_emplace(key);
      if (fresh) {
        it->second.orphaned = true;
        it->second.service =
            server ? "clients of " + core::to_string(s.local) : core::to_string(s.peer);
      }
      return it->second;
    }
    const auto* holder = ctx.first_holder(s);
    if (holder == nullptr) {
      Group& g = held[{1, s.uid}];
      g.uid = s.uid;
      return g;
    }
    Group& g = held[{0, holder->pid}];
    g.process = holder;
    return g;
  }
};

std::string who(const RuleContext& ctx, const Group& g) {
  return g.process ? describe_process(*g.process) : unseen_holder(ctx, g.uid);
}

std::string local_peer_sentence(const Group& g) {
  if (g.local_peers.empty()) return {};
  std::string list;
  for (const auto& [desc, n] : g.local_peers)
    list += (list.empty() ? "" : ", ") + fmt::format("{} ({})", desc, n);
  return " The other end is on this host: " + list +
         ". A peer in CLOSE-WAIT received the FIN and has not closed its side.";
}

Finding held_finding(const RuleContext& ctx, const Group& g) {
  Finding f;
  f.id = "fin_wait2_half_closed";
  f.severity = g.aged > 0 ? Severity::Warning : Severity::Info;
  const char* s = g.count == 1 ? "" : "s";
  f.title = fmt::format("{} holds {} half-closed connection{} in FIN_WAIT2, waiting for the peer "
                        "to close (no timeout)",
                        who(ctx, g), g.count, s);
  name_holder(ctx, g.process, f);
  f.peer = g.peers.only();
  f.count = g.count;
  f.oldest_age_seconds = g.oldest;
  f.oldest_age_lower_bound = g.oldest.has_value() && !g.oldest_traced;
  f.add("keepalive_timers", "with keepalive timer", static_cast<std::int64_t>(g.keepalive));
  f.add("bounded", "bounded by tcp_fin_timeout", false);
  f.add("peers", "peers", g.peers.top(ctx.opt.max_listed));
  if (!g.local_peers.empty())
    f.add("local_peer_holders", "other end held by", top_counts(g.local_peers, ctx.opt.max_listed));
  const int fin = fin_timeout_seconds(ctx.kernel);
  f.explanation = fmt::format(
      "{} shut down its sending side (shutdown() with SHUT_WR or SHUT_RDWR); the peer acknowledged "
      "the FIN but has "
      "not closed its own side, and the socket is still open, waiting for it. A FIN_WAIT2 socket "
      "that a process holds has no timer: tcp_fin_timeout ({} s here) applies only to orphaned "
      "sockets, after close(). These last until the peer closes{}.",
      who(ctx, g), fin,
      g.keepalive ? ", or until keepalive (SO_KEEPALIVE) finds the peer host gone" : "");
  if (g.oldest && g.oldest_traced)
    f.explanation += fmt::format(" The oldest has waited {} (exact: the eBPF state register saw "
                                 "it enter the state).",
                                 core::prose_duration(*g.oldest));
  else if (g.oldest)
    f.explanation += fmt::format(" The oldest has waited at least {} (since the last ACK "
                                 "received).",
                                 core::prose_duration(*g.oldest));
  f.explanation += local_peer_sentence(g);
  f.remedies.push_back(g.local_peers.empty()
                           ? std::string("Make the peer close its side when it reads EOF.")
                           : "Make the peer close its side when it reads EOF: fix the local "
                             "process named above.");
  f.remedies.push_back(fmt::format("If {} needs nothing more from the peer, close() instead of "
                                   "holding the socket: an orphaned FIN_WAIT2 ends after "
                                   "tcp_fin_timeout ({} s).",
                                   who(ctx, g), fin));
  f.remedies.push_back("Or bound the wait in the application: a read timeout, then close().");
  return f;
}

Finding orphan_finding(const RuleContext& ctx, const Group& g) {
  Finding f;
  f.id = "fin_wait2_orphaned";
  f.severity = Severity::Info;
  const int fin = fin_timeout_seconds(ctx.kernel);
  f.title = fmt::format("{} orphaned FIN_WAIT2 socket{} toward {}: the peer has not closed (each "
                        "ends about {} s after close())",
                        g.count, g.count == 1 ? "" : "s", g.service,
                        orphan_fin_wait2_seconds(ctx.kernel));
  f.peer = g.service;
  f.count = g.count;
  f.oldest_age_seconds = g.oldest;
  // No process holds an orphan; the cgroup its socket was created in still names the workload.
  if (!g.cgroups_differ) f.workload = ctx.workloads.of_cgroup_id(g.cgroup_id);
  f.add("bounded", "bounded by tcp_fin_timeout", true);
  f.add("tcp_fin_timeout", "tcp_fin_timeout (s)", static_cast<std::int64_t>(fin));
  f.add("peers", "peers", g.peers.top(ctx.opt.max_listed));
  if (!g.local_peers.empty())
    f.add("local_peer_holders", "other end held by", top_counts(g.local_peers, ctx.opt.max_listed));
  f.explanation = fmt::format(
      "This host closed these connections and the peer acknowledged the FIN but has not sent its "
      "own. Orphaned FIN_WAIT2 sockets are bounded: the kernel frees them after tcp_fin_timeout "
      "({} s here, or 3.5 x RTO if that is longer, or the application's TCP_LINGER2), so their "
      "ages are estimates, neither exact nor bounds; a FIN that arrives after that gets a RST. "
      "Until then each takes an entry counted against tcp_max_tw_buckets.{}",
      fin, local_peer_sentence(g));
  f.remedies.push_back("The peer application is not closing after it reads EOF: look there "
                       "first (its socket is typically in CLOSE_WAIT).");
  f.remedies.push_back(fmt::format(
      "Lowering net.ipv4.tcp_fin_timeout (now {} s) frees these orphans sooner; it affects only "
      "orphaned FIN_WAIT2 sockets, not TIME_WAIT. Risk: a peer that closes later gets a RST "
      "instead of a clean close.",
      fin));
  return f;
}

} // namespace

void fin_wait2(const RuleContext& ctx, std::vector<Finding>& out) {
  Groups groups;
  std::vector<std::pair<std::size_t, Group*>> members; // node-based maps: pointers stay valid
  LocalPeers local(ctx);
  const auto& socks = ctx.snap.sockets;
  for (std::size_t i = 0; i < socks.size(); ++i) {
    const auto& s = socks[i];
    if (s.state != core::TcpState::FinWait2) continue;
    const Age& age = ctx.age(i);
    if (s.inode != 0 && age.seconds && *age.seconds < ctx.opt.min_age_seconds) continue;
    Group& g = groups.of(ctx, s);
    if (g.count == 0) g.cgroup_id = s.cgroup_id;
    g.cgroups_differ = g.cgroups_differ || g.cgroup_id != s.cgroup_id;
    ++g.count;
    if (age.seconds) {
      ++g.aged;
      if (!g.oldest || *age.seconds > *g.oldest) {
        g.oldest = *age.seconds;
        g.oldest_traced = age.basis == AgeBasis::Traced && !age.lower_bound;
      }
    }
    if (s.timer == core::TimerKind::Keepalive && s.inode != 0) ++g.keepalive;
    g.peers.add(s.peer, true);
    local.want(i);
    members.emplace_back(i, &g);
  }
  local.resolve();
  for (const auto& [i, g] : members)
    if (auto d = local.describe(i); !d.empty()) ++g->local_peers[d];
  for (const auto& [key, g] : groups.held)
    out.push_back(held_finding(ctx, g));
  for (const auto& [key, g] : groups.orphans)
    if (g.count >= ctx.opt.orphan_fin_wait2_info_count || !g.local_peers.empty())
      out.push_back(orphan_finding(ctx, g));
}

} // namespace sockdoctor::analyze::rules
