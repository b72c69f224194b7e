// Rule: closes stuck on unacknowledged data, orphans vs tcp_max_orphans, full accept queues.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "analyze/diagnose.hpp"
#include "analyze/kernel_model.hpp"
#include "analyze/knowledge.hpp"

namespace sockdoctor::analyze::rules {
namespace {

std::uint64_t counter(const core::KernelSettings& k, const char* name) {
  auto it = k.tcp_ext.find(name);
  return it == k.tcp_ext.end() ? 0 : it->second;
}

bool closing_state(core::TcpState s) {
  return s == core::TcpState::FinWait1 || s == core::TcpState::LastAck ||
         s == core::TcpState::Closing;
}

struct Stuck {
  std::string service;
  std::uint64_t count = 0, with_data = 0, zero_window = 0, retransmitting = 0;
  std::uint64_t orphaned = 0, held = 0, max_retrans = 0, bytes = 0;
  std::map<std::string, std::uint64_t> states;
  std::map<std::int32_t, const core::ProcessInfo*> holders;
  std::set<std::uint64_t> orphan_cgroups; // where the orphans were created; 2 means "several"
};

std::string stuck_explanation(const RuleContext& ctx, const Stuck& g) {
  std::string out = fmt::format(
      "These connections are being closed on this side, but {} byte{} of data and the FIN are "
      "still unacknowledged (Send-Q counts the FIN as one byte).",
      g.bytes, g.bytes == 1 ? "" : "s");
  if (g.zero_window)
    out += fmt::format(" {} on a zero window (persist timer): the peer's receive buffer is "
                       "full because its application is not reading.",
                       subject(g.zero_window, g.count, "wait", "waits"));
  if (g.retransmitting)
    out += fmt::format(" {} retransmitting unanswered (up to {} retries so far): the peer does "
                       "not acknowledge, it may be gone or unreachable.",
                       subject(g.retransmitting, g.count, "are", "is"), g.max_retrans);
  if (g.orphaned) {
    const int retries = ctx.kernel.tcp_orphan_retries.value_or(0);
    out += fmt::format(
        " {} orphaned (the application already called close()): the kernel "
        "retries under tcp_orphan_retries ({} here{}, a time budget of {} while "
        "the RTO stays below tcp_rto_max) and then destroys {}; on a zero window "
        "it aborts them once the probe backoff reaches tcp_rto_max. Meanwhile each "
        "keeps its unsent data in memory and counts against tcp_max_orphans.",
        subject(g.orphaned, g.count, "are", "is"), retries, retries == 0 ? ", which means 8" : "",
        format_seconds(orphan_retry_budget_seconds(ctx.kernel)), g.orphaned == 1 ? "it" : "them");
  }
  if (g.held)
    out += fmt::format(" {} still held by a process (shutdown() with data queued): unanswered "
                       "retransmissions end after tcp_retries2 ({} here, at least {}), but a "
                       "receiver that keeps answering zero-window probes keeps {} open for as "
                       "long as it lives unless the application set TCP_USER_TIMEOUT.",
                       subject(g.held, g.count, "are", "is"), ctx.kernel.tcp_retries2.value_or(15),
                       format_seconds(retries2_timeout_seconds(ctx.kernel)),
                       g.held == 1 ? "it" : "them");
  return out;
}

void stuck_closes(const RuleContext& ctx, std::vector<Finding>& out) {
  std::map<std::tuple<std::uint32_t, std::string>, Stuck> groups;
  for (const auto& s : ctx.snap.sockets) {
    if (!closing_state(s.state)) continue;
    const bool zero_window = s.timer == core::TimerKind::Probe0;
    const bool retrans = s.timer == core::TimerKind::Retransmit && s.retrans > 0;
    // Send-Q 1 is just our FIN in flight: normal for a moment.
    if (s.send_q <= 1 && !zero_window && !retrans) continue;
    const std::string service = ctx.is_listening_port(s.netns_ino, s.local.port)
                                    ? "clients of " + core::to_string(s.local)
                                    : core::to_string(s.peer);
    auto& g = groups[{s.netns_ino, service}];
    g.service = service;
    ++g.count;
    if (s.send_q > 1) {
      ++g.with_data;
      g.bytes += s.send_q - 1;
    }
    if (zero_window) ++g.zero_window;
    if (retrans) ++g.retransmitting;
    g.max_retrans = std::max<std::uint64_t>(g.max_retrans, s.retrans);
    ++g.states[std::string(core::ss_name(s.state))];
    if (s.inode == 0) {
      ++g.orphaned;
      if (g.orphan_cgroups.size() < 2) g.orphan_cgroups.insert(s.cgroup_id);
    } else {
      ++g.held;
      for (const auto* p : ctx.holders(s))
        g.holders[p->pid] = p;
    }
  }
  for (const auto& [key, g] : groups) {
    Finding f;
    f.id = "stuck_close";
    f.severity = (g.zero_window > 0 || g.max_retrans >= 3) ? Severity::Warning : Severity::Info;
    f.title = fmt::format("{} closing connection{} toward {} stuck with unacknowledged data",
                          g.count, g.count == 1 ? "" : "s", g.service);
    if (g.holders.size() == 1) name_holder(ctx, g.holders.begin()->second, f);
    // Orphans only, all from one cgroup: no process holds them, their cgroup names the workload.
    if (g.holders.empty() && g.orphan_cgroups.size() == 1)
      f.workload = ctx.workloads.of_cgroup_id(*g.orphan_cgroups.begin());
    f.peer = g.service;
    f.count = g.count;
    std::map<std::string, std::uint64_t> states(g.states.begin(), g.states.end());
    f.add("states", "states", top_counts(states, 4));
    f.add("unacked_bytes", "unacknowledged data (bytes)", static_cast<std::int64_t>(g.bytes));
    f.add("zero_window", "waiting on a zero window", static_cast<std::int64_t>(g.zero_window));
    f.add("retransmitting", "retransmitting", static_cast<std::int64_t>(g.retransmitting));
    f.add("orphaned", "orphaned (no process)", static_cast<std::int64_t>(g.orphaned));
    f.add("held", "held by a process", static_cast<std::int64_t>(g.held));
    f.explanation = stuck_explanation(ctx, g);
    if (g.zero_window)
      f.remedies.push_back(
          g.service.rfind("clients of ", 0) == 0
              ? fmt::format("Find out why the {} stop reading: their receive windows are full.",
                            g.service)
              : fmt::format("Fix the reader at {}: its application stopped reading.", g.service));
    f.remedies.push_back("Set TCP_USER_TIMEOUT on these sockets in the application to bound how "
                         "long unacknowledged data may wait.");
    f.remedies.push_back("`ss -K` aborts them; on orphaned sockets it works only since Linux "
                         "6.11 and its stable backports, and in LAST_ACK or CLOSING it sends the "
                         "peer no RST. " +
                         sock_destroy_sentence(ctx.kernel));
    out.push_back(std::move(f));
  }
}

void orphan_limit(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& k = ctx.kernel;
  if (!k.sockstat_orphan || !k.tcp_max_orphans || *k.tcp_max_orphans <= 0) return;
  const double fraction = static_cast<double>(*k.sockstat_orphan) / *k.tcp_max_orphans;
  if (fraction < ctx.opt.limit_warning_fraction) return;
  Finding f;
  f.id = "orphan_limit";
  f.severity = fraction >= ctx.opt.limit_critical_fraction ? Severity::Critical : Severity::Warning;
  f.title = fmt::format("{} orphaned sockets, {:.0f}% of tcp_max_orphans {}", *k.sockstat_orphan,
                        fraction * 100, *k.tcp_max_orphans);
  f.count = *k.sockstat_orphan;
  f.add("orphans", "orphaned sockets (host-wide)", static_cast<std::int64_t>(*k.sockstat_orphan));
  f.add("tcp_max_orphans", "tcp_max_orphans", static_cast<std::int64_t>(*k.tcp_max_orphans));
  f.explanation = "Orphans are connections their application has closed but that have not finished "
                  "closing (FIN_WAIT1, LAST_ACK, CLOSING, FIN_WAIT2 full sockets). The count in "
                  "/proc/net/sockstat is host-wide. " +
                  orphan_limit_sentence(k);
  f.remedies.push_back("Find the peers that do not acknowledge or read (see the stuck-close "
                       "findings) and fix them.");
  f.remedies.push_back("Raising net.ipv4.tcp_max_orphans only buys memory-bound headroom: each "
                       "orphan can hold its unsent data.");
  out.push_back(std::move(f));
}

struct Queue {
  std::uint64_t established = 0, closed_by_client = 0, syn_recv = 0;
};

void accept_queues(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& socks = ctx.snap.sockets;
  std::map<std::size_t, Queue> full;
  for (std::size_t i : ctx.listeners()) {
    const auto& l = socks[i];
    if (listener_full(l)) full[i];
  }
  const std::uint64_t overflows = counter(ctx.kernel, "ListenOverflows");
  const std::uint64_t drops = counter(ctx.kernel, "ListenDrops");
  if (full.empty()) {
    if (overflows == 0) return;
    Finding f;
    f.id = "listen_overflows";
    f.severity = Severity::Info;
    f.title = fmt::format("accept queues overflowed {} times since this network namespace was "
                          "created; none is full now",
                          overflows);
    f.count = overflows;
    f.add("listen_overflows", "TcpExtListenOverflows", static_cast<std::int64_t>(overflows));
    f.add("listen_drops", "TcpExtListenDrops", static_cast<std::int64_t>(drops));
    f.explanation = "The counter only grows, so this may be old history.";
    f.remedies.push_back("Watch whether it still grows (nstat -az TcpExtListenOverflows); if it "
                         "does, look for a listener whose Recv-Q reaches its Send-Q in `ss -lnt`.");
    out.push_back(std::move(f));
    return;
  }
  for (const auto& s : socks) {
    if (s.inode != 0 || s.state == core::TcpState::Listen) continue;
    const bool queued =
        s.state == core::TcpState::Established || s.state == core::TcpState::CloseWait;
    if (!queued && s.state != core::TcpState::SynRecv) continue;
    if (!ctx.is_listening_port(s.netns_ino, s.local.port)) continue;
    auto l = ctx.listener_of(s);
    if (!l) continue;
    auto it = full.find(*l);
    if (it == full.end()) continue;
    if (s.state == core::TcpState::SynRecv)
      ++it->second.syn_recv;
    else if (s.state == core::TcpState::CloseWait)
      ++it->second.closed_by_client;
    else
      ++it->second.established;
  }
  for (const auto& [i, q] : full) {
    const auto& l = socks[i];
    const auto holders = ctx.holders(l);
    const std::string who =
        holders.empty() ? std::string("the listener") : describe_process(*holders.front());
    Finding f;
    f.id = "listen_queue_full";
    f.severity = Severity::Critical;
    f.title = fmt::format("{} does not accept connections on {}: accept queue full ({} of {})", who,
                          core::to_string(l.local), l.recv_q, l.send_q);
    if (!holders.empty()) name_holder(ctx, holders.front(), f);
    f.count = l.recv_q;
    f.add("listener", "listener", core::to_string(l.local));
    f.add("accept_queue", "accept queue (Recv-Q)", static_cast<std::int64_t>(l.recv_q));
    f.add("backlog", "backlog (Send-Q)", static_cast<std::int64_t>(l.send_q));
    f.add("unaccepted_established", "queued, established",
          static_cast<std::int64_t>(q.established));
    f.add("unaccepted_closed_by_client", "queued, closed by the client (CLOSE_WAIT)",
          static_cast<std::int64_t>(q.closed_by_client));
    f.add("syn_recv", "half-open (SYN_RECV)", static_cast<std::int64_t>(q.syn_recv));
    f.add("listen_overflows", "TcpExtListenOverflows", static_cast<std::int64_t>(overflows));
    f.add("listen_drops", "TcpExtListenDrops", static_cast<std::int64_t>(drops));
    if (ctx.kernel.somaxconn)
      f.add("somaxconn", "net.core.somaxconn", static_cast<std::int64_t>(*ctx.kernel.somaxconn));
    f.explanation = fmt::format(
        "The accept queue of {} on {} is full ({} queued, backlog {}): it is not calling accept() "
        "fast enough, or at all. While the queue is full the kernel drops incoming SYNs and the "
        "ACKs that complete handshakes, counting them in ListenOverflows ({} so far in this "
        "network namespace) and ListenDrops ({}); clients see slow or failing connects.{}",
        who, core::to_string(l.local), l.recv_q, l.send_q, overflows, drops,
        q.closed_by_client
            ? fmt::format(" {} of the queued connections {} already closed by {} client and "
                          "{} in CLOSE_WAIT with no process.",
                          q.closed_by_client, q.closed_by_client == 1 ? "was" : "were",
                          q.closed_by_client == 1 ? "its" : "their",
                          q.closed_by_client == 1 ? "waits" : "wait")
            : std::string());
    f.remedies.push_back(fmt::format("Find out why {} does not call accept(): a blocked or busy "
                                     "accept loop, an exhausted worker pool.",
                                     who));
    f.remedies.push_back(fmt::format(
        "A larger backlog (the listen() argument, capped by net.core.somaxconn{}) absorbs bursts "
        "only; it does not help a listener that stopped accepting.",
        ctx.kernel.somaxconn ? fmt::format(" = {}", *ctx.kernel.somaxconn) : std::string()));
    out.push_back(std::move(f));
  }
}

} // namespace

void queues(const RuleContext& ctx, std::vector<Finding>& out) {
  stuck_closes(ctx, out);
  orphan_limit(ctx, out);
  accept_queues(ctx, out);
}

} // namespace sockdoctor::analyze::rules
