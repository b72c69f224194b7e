// Rule: FIN_WAIT2, orphaned (bounded by tcp_fin_timeout) versus half-closed and held by a process
// (unbounded) (kernel-facts section 7).
#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "analyze/diagnose.hpp"
#include "analyze/kernel_model.hpp"

namespace sockdoctor::analyze::rules {
namespace {

struct Group {
  bool orphaned = false;
  const core::ProcessInfo* process = nullptr;
  std::uint32_t uid = 0;
  std::string service; // orphans: the peer endpoint, or "clients of <local>"
  std::uint64_t count = 0, aged = 0, keepalive = 0;
  std::optional<double> oldest;
  std::map<std::string, std::uint64_t> peers;
  std::map<std::string, std::uint64_t> local_peers; // "pid 7 (x), CLOSE_WAIT" -> count
};

// The local socket at the other end of s, if both ends live in this snapshot.
class LocalPeers {
public:
  explicit LocalPeers(const RuleContext& ctx) : ctx_(ctx) {}
  void want(std::size_t i) { wanted_.push_back(i); }
  void resolve() {
    std::unordered_map<std::string, std::size_t> by_pair;
    for (std::size_t i : wanted_)
      by_pair.emplace(pair_key(ctx_.snap.sockets[i], true), i);
    for (std::size_t j = 0; j < ctx_.snap.sockets.size() && !by_pair.empty(); ++j) {
      auto it = by_pair.find(pair_key(ctx_.snap.sockets[j], false));
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
  static std::string pair_key(const core::TcpSocket& s, bool reversed) {
    const auto& a = reversed ? s.peer : s.local;
    const auto& b = reversed ? s.local : s.peer;
    return fmt::format("{}|{}|{}", s.netns_ino, core::to_string(a), core::to_string(b));
  }
  const RuleContext& ctx_;
  std::vector<std::size_t> wanted_;
  std::unordered_map<std::size_t, std::size_t> found_;
};

using Key = std::tuple<int, std::int64_t, std::string>;

Key key_for(const RuleContext& ctx, const core::TcpSocket& s, Group& proto) {
  if (s.inode == 0) {
    proto.orphaned = true;
    proto.service = ctx.is_listening_port(s.netns_ino, s.local.port)
                        ? "clients of " + core::to_string(s.local)
                        : core::to_string(s.peer);
    return {2, s.netns_ino, proto.service};
  }
  const auto holders = ctx.holders(s);
  if (holders.empty()) {
    proto.uid = s.uid;
    return {1, s.uid, {}};
  }
  proto.process = holders.front();
  return {0, holders.front()->pid, {}};
}

std::string who(const Group& g) {
  return g.process ? describe_process(*g.process)
                   : fmt::format("a process sockdoctor cannot see (uid {})", g.uid);
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
                        who(g), g.count, s);
  if (g.process) f.process = process_ref(*g.process);
  if (g.peers.size() == 1) f.peer = g.peers.begin()->first;
  f.count = g.count;
  f.oldest_age_seconds = g.oldest;
  f.oldest_age_lower_bound = g.oldest.has_value();
  f.add("keepalive_timers", "with keepalive timer", static_cast<std::int64_t>(g.keepalive));
  f.add("bounded", "bounded by tcp_fin_timeout", false);
  f.add("peers", "peers", top_counts(g.peers, ctx.opt.max_listed));
  if (!g.local_peers.empty())
    f.add("local_peer_holders", "other end held by", top_counts(g.local_peers, ctx.opt.max_listed));
  const int fin = fin_timeout_seconds(ctx.kernel);
  f.explanation = fmt::format(
      "{} shut down its sending side (shutdown() with SHUT_WR or SHUT_RDWR); the peer acknowledged "
      "the FIN but has "
      "not closed its own side, and the socket is still open, waiting for it. A FIN_WAIT2 socket "
      "that a process holds has no timer: tcp_fin_timeout ({} s here) applies only to orphaned "
      "sockets, after close(). These last until the peer closes{}.",
      who(g), fin,
      g.keepalive ? ", or until keepalive (SO_KEEPALIVE) finds the peer host gone" : "");
  if (g.oldest)
    f.explanation += fmt::format(" The oldest has waited at least {} (since the last ACK "
                                 "received).",
                                 format_duration(*g.oldest));
  f.explanation += local_peer_sentence(g);
  f.remedies.push_back(g.local_peers.empty()
                           ? std::string("Make the peer close its side when it reads EOF.")
                           : "Make the peer close its side when it reads EOF: fix the local "
                             "process named above.");
  f.remedies.push_back(fmt::format("If {} needs nothing more from the peer, close() instead of "
                                   "holding the socket: an orphaned FIN_WAIT2 ends after "
                                   "tcp_fin_timeout ({} s).",
                                   who(g), fin));
  f.remedies.push_back("Or bound the wait in the application: a read timeout, then close().");
  return f;
}

Finding orphan_finding(const RuleContext& ctx, const Group& g) {
  Finding f;
  f.id = "fin_wait2_orphaned";
  f.severity = Severity::Info;
  const int fin = fin_timeout_seconds(ctx.kernel);
  f.title = fmt::format("{} orphaned FIN_WAIT2 socket{} toward {}: the peer has not closed (each "
                        "ends after about {} s)",
                        g.count, g.count == 1 ? "" : "s", g.service,
                        orphan_fin_wait2_seconds(ctx.kernel));
  f.peer = g.service;
  f.count = g.count;
  f.oldest_age_seconds = g.oldest;
  f.add("bounded", "bounded by tcp_fin_timeout", true);
  f.add("tcp_fin_timeout", "tcp_fin_timeout (s)", static_cast<std::int64_t>(fin));
  f.add("peers", "peers", top_counts(g.peers, ctx.opt.max_listed));
  if (!g.local_peers.empty())
    f.add("local_peer_holders", "other end held by", top_counts(g.local_peers, ctx.opt.max_listed));
  f.explanation = fmt::format(
      "This host closed these connections and the peer acknowledged the FIN but has not sent its "
      "own. Orphaned FIN_WAIT2 sockets are bounded: the kernel frees them after tcp_fin_timeout "
      "({} s here, unless the application set TCP_LINGER2); a FIN that arrives after that gets a "
      "RST. Until then each takes an entry counted against "
      "tcp_max_tw_buckets.{}",
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
  std::map<Key, Group> groups;
  std::vector<std::pair<std::size_t, Group*>> members;
  LocalPeers local(ctx);
  const auto& socks = ctx.snap.sockets;
  for (std::size_t i = 0; i < socks.size(); ++i) {
    const auto& s = socks[i];
    if (s.state != core::TcpState::FinWait2) continue;
    const Age& age = ctx.age(i);
    if (s.inode != 0 && age.seconds && *age.seconds < ctx.opt.min_age_seconds) continue;
    Group proto;
    auto [it, fresh] = groups.try_emplace(key_for(ctx, s, proto), std::move(proto));
    Group& g = it->second;
    ++g.count;
    if (age.seconds) {
      ++g.aged;
      g.oldest = std::max(g.oldest.value_or(0), *age.seconds);
    }
    if (s.timer == core::TimerKind::Keepalive && s.inode != 0) ++g.keepalive;
    ++g.peers[core::to_string(s.peer)];
    local.want(i);
    members.emplace_back(i, &g);
  }
  local.resolve();
  for (const auto& [i, g] : members)
    if (auto d = local.describe(i); !d.empty()) ++g->local_peers[d];
  for (const auto& [key, g] : groups) {
    if (!g.orphaned) {
      out.push_back(held_finding(ctx, g));
    } else if (g.count >= ctx.opt.orphan_fin_wait2_info_count || !g.local_peers.empty()) {
      out.push_back(orphan_finding(ctx, g));
    }
  }
}

} // namespace sockdoctor::analyze::rules
