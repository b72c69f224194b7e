// Rule: CLOSE_WAIT sockets that the owning application never closes (kernel-facts sections 1, 2).
#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "analyze/diagnose.hpp"
#include "analyze/kernel_model.hpp"
#include "analyze/knowledge.hpp"
#include "core/duration.hpp"

namespace sockdoctor::analyze::rules {
namespace {

enum class Holder : int { Process = 0, Unseen = 1, AcceptQueue = 2, NoListener = 3 };

struct Group {
  Holder kind = Holder::Process;
  const core::ProcessInfo* process = nullptr; // the holder, or the listener's owner
  std::optional<std::size_t> listener;
  std::uint32_t uid = 0;
  std::string local; // NoListener: the local endpoint
  std::uint64_t count = 0, aged = 0, unknown_age = 0;
  std::uint64_t eof_read = 0, eof_unread = 0, data_unread = 0;
  std::uint64_t keepalive = 0, retransmitting = 0;
  std::uint64_t outgoing = 0, incoming = 0;
  std::optional<double> oldest;
  bool oldest_traced = false; // exact: the eBPF state register saw it enter CLOSE_WAIT
  double oldest_upper = 0;    // last_data_recv of the oldest socket: an upper bound
  EndpointCounter peers;
  std::map<std::int32_t, const core::ProcessInfo*> co_holders;
};

using Key = std::tuple<int, std::int64_t, std::uint32_t>;

Key group_key(const RuleContext& ctx, const core::TcpSocket& s, Group& proto) {
  const auto& snap = ctx.snap;
  if (s.inode != 0) {
    const auto* holder = ctx.first_holder(s);
    if (holder == nullptr) {
      proto.kind = Holder::Unseen;
      proto.uid = s.uid;
      return {1, s.uid, s.netns_ino};
    }
    proto.kind = Holder::Process;
    proto.process = holder;
    return {0, holder->pid, 0};
  }
  // No struct socket yet: the connection still waits in a listener's accept queue.
  if (auto l = ctx.listener_of(s)) {
    proto.kind = Holder::AcceptQueue;
    proto.listener = l;
    proto.process = ctx.first_holder(snap.sockets[*l]);
    return {2, static_cast<std::int64_t>(*l), 0};
  }
  proto.kind = Holder::NoListener;
  proto.local = core::to_string(s.local);
  return {3, s.local.port, s.netns_ino};
}

void account(const RuleContext& ctx, std::size_t i, Group& g) {
  const auto& s = ctx.snap.sockets[i];
  const Age& age = ctx.age(i);
  ++g.count;
  if (!age.seconds)
    ++g.unknown_age;
  else {
    ++g.aged;
    if (!g.oldest || *age.seconds > *g.oldest) {
      g.oldest = age.seconds;
      g.oldest_traced = age.basis == AgeBasis::Traced && !age.lower_bound;
      g.oldest_upper = s.has_info ? s.info.last_data_recv_ms / 1000.0 : 0;
    }
  }
  // Recv-Q counts the FIN as one byte (kernel-facts section 1).
  if (s.recv_q == 0)
    ++g.eof_read;
  else if (s.recv_q == 1)
    ++g.eof_unread;
  else
    ++g.data_unread;
  if (s.timer == core::TimerKind::Keepalive) ++g.keepalive;
  if (s.timer == core::TimerKind::Retransmit || s.timer == core::TimerKind::Probe0)
    ++g.retransmitting;
  const bool incoming = ctx.is_listening_port(s.netns_ino, s.local.port);
  if (incoming) {
    ++g.incoming;
  } else {
    ++g.outgoing;
  }
  g.peers.add(s.peer, !incoming);
  if (g.kind == Holder::Process && ctx.snap.owners.owners_of(s.inode).size() > 1)
    for (const auto* p : ctx.holders(s))
      if (p != g.process) g.co_holders[p->pid] = p;
}

double fd_fraction(const Group& g) {
  if (g.kind != Holder::Process || g.process == nullptr || g.process->fd_limit == 0) return 0;
  return static_cast<double>(g.process->fd_count) / static_cast<double>(g.process->fd_limit);
}

Severity severity(const RuleContext& ctx, const Group& g) {
  const bool many = g.count >= ctx.opt.close_wait_critical_count;
  const bool fds = fd_fraction(g) >= ctx.opt.fd_critical_fraction;
  if (g.aged > 0) return (many || fds) ? Severity::Critical : Severity::Warning;
  // Only sockets of unknown age (no tcp_info): cannot prove they are stuck.
  return many ? Severity::Warning : Severity::Info;
}

std::string title(const RuleContext& ctx, const Group& g) {
  const auto n = g.count;
  const char* s = n == 1 ? "" : "s";
  switch (g.kind) {
  case Holder::Process:
    return fmt::format("{} holds {} CLOSE_WAIT socket{}: the peer closed, the application did not",
                       describe_process(*g.process), n, s);
  case Holder::Unseen:
    return fmt::format("{} CLOSE_WAIT socket{} held by {}", n, s, unseen_holder(ctx, g.uid));
  case Holder::AcceptQueue: {
    const auto where = core::to_string(ctx.snap.sockets[*g.listener].local);
    if (g.process == nullptr)
      return fmt::format("{} connection{} closed by the client still wait unaccepted on {}", n, s,
                         where);
    return fmt::format("{} has not accepted {} connection{} on {} that the client{} already closed",
                       describe_process(*g.process), n, s, where, s);
  }
  case Holder::NoListener:
    return fmt::format("{} CLOSE_WAIT socket{} on {} with no owner and no listener", n, s, g.local);
  }
  return {};
}

std::string recv_q_sentence(const Group& g) {
  std::string out;
  if (g.eof_unread > 0)
    out += subject(g.eof_unread, g.count, "show", "shows") +
           " Recv-Q 1: the application has not even read the EOF (recv() would return 0). ";
  if (g.eof_read > 0)
    out += subject(g.eof_read, g.count, "show", "shows") +
           " Recv-Q 0: the application consumed the EOF (recv() returned 0, or its read of the "
           "last data byte took the FIN along) but never called close(). ";
  if (g.data_unread > 0)
    out += subject(g.data_unread, g.count, "have", "has") +
           " unread data before the EOF (Recv-Q > 1): the application stopped reading, and a "
           "close() now sends RST instead of FIN. ";
  if (!out.empty()) out.pop_back();
  return out;
}

std::string keepalive_sentence(const RuleContext& ctx, const Group& g) {
  const bool one = g.count == 1;
  const std::string never = fmt::format(
      "so no timer will close {}: keepalive probes are sent only on sockets with SO_KEEPALIVE, "
      "and the tcp_keepalive_* sysctls do not apply without it. Without the application, a "
      "CLOSE_WAIT ends only on a RST from the peer, a retransmission timeout of data the "
      "application writes, or ss -K.",
      one ? "it" : "them");
  if (g.keepalive == 0)
    return fmt::format("{} keepalive timer, {}", one ? "It has no" : "None of them has a", never);
  std::string out = fmt::format(
      "{} a keepalive timer (SO_KEEPALIVE). If the peer host is up but its socket is gone, the "
      "first probe after {} s idle (tcp_keepalive_time, unless TCP_KEEPIDLE overrides it) draws "
      "a RST; if the peer is unreachable, the kernel gives up after {} s. Either way the socket "
      "only moves to CLOSE and its fd stays open until close(); and if the peer's socket still "
      "exists, the probes are answered and CLOSE_WAIT never ends.",
      subject(g.keepalive, g.count, "have", "has"), keepalive_first_probe_seconds(ctx.kernel),
      keepalive_abort_seconds(ctx.kernel));
  if (g.keepalive < g.count)
    out += fmt::format(" The other {} {} none, {}", g.count - g.keepalive,
                       g.count - g.keepalive == 1 ? "has" : "have", never);
  return out;
}

std::string age_sentence(const Group& g) {
  if (!g.oldest) return "Their age is unknown: this data source has no tcp_info.";
  if (g.oldest_traced)
    return fmt::format("The oldest has been in CLOSE_WAIT for {} (exact: the eBPF state register "
                       "saw it enter the state).{}",
                       core::prose_duration(*g.oldest),
                       g.unknown_age > 0
                           ? fmt::format(" {} have no age information.", g.unknown_age)
                           : std::string());
  std::string out = fmt::format("The oldest has been in CLOSE_WAIT for at least {} (since the last "
                                "ACK from the peer, normally its FIN)",
                                core::prose_duration(*g.oldest));
  if (g.oldest_upper > *g.oldest + 1)
    out += fmt::format(" and at most {} (since the last data received)",
                       core::prose_duration(g.oldest_upper));
  out += '.';
  if (g.unknown_age > 0) out += fmt::format(" {} have no age information.", g.unknown_age);
  return out;
}

std::string explanation(const RuleContext& ctx, const Group& g) {
  std::vector<std::string> s;
  if (g.kind == Holder::AcceptQueue || g.kind == Holder::NoListener) {
    s.push_back("These connections were closed by their clients while still waiting in the "
                "listener's accept queue: no process holds them yet (inode 0), so nothing can "
                "close them until the listener calls accept() and then close(). They count "
                "against the listen backlog.");
  } else {
    s.push_back("The peer sent FIN on these connections and the kernel acknowledged it; each "
                "stays in CLOSE_WAIT until the last process holding it calls close() (or "
                "shutdown(SHUT_WR)).");
    s.push_back(recv_q_sentence(g));
    s.push_back(keepalive_sentence(ctx, g));
  }
  if (g.retransmitting > 0)
    s.push_back(subject(g.retransmitting, g.count, "are", "is") +
                " retransmitting data the application wrote after the peer closed; if the peer "
                "never acknowledges, the kernel gives up once the tcp_retries2 budget (" +
                format_seconds(retries2_timeout_seconds(ctx.kernel)) +
                " here) is spent and moves the socket to CLOSE, its fd still open. A peer that "
                "keeps answering zero-window probes is never given up on this way, unless the "
                "application set TCP_USER_TIMEOUT.");
  s.push_back(age_sentence(g));
  // Mentioned once it matters; the numbers are always in the evidence.
  if (const double f = fd_fraction(g); f >= 0.5)
    s.push_back(fmt::format("{} uses {} of its {} file descriptors ({:.0f}%); at the limit "
                            "accept() and socket() fail with EMFILE (\"Too many open files\").",
                            describe_process(*g.process), g.process->fd_count, g.process->fd_limit,
                            f * 100));
  if (g.kind == Holder::Process && g.outgoing > 0)
    s.push_back(subject(g.outgoing, g.count, "are", "is") +
                " outgoing (the local port is ephemeral): each also keeps its port and 4-tuple "
                "toward that peer.");
  if (g.kind == Holder::Process && g.incoming > 0)
    s.push_back(subject(g.incoming, g.count, "are", "is") +
                " server-side (on a listening port): no ephemeral port is involved; the cost is an "
                "fd and memory each.");
  if (!g.co_holders.empty())
    s.push_back("Some are also held by other processes: a socket closes only when its last "
                "holder closes it, and an fd inherited through fork()/exec() without "
                "SOCK_CLOEXEC is a classic cause.");
  std::string out;
  for (const auto& x : s)
    if (!x.empty()) out += (out.empty() ? "" : " ") + x;
  return out;
}

std::string ss_filter(const RuleContext& ctx, const Group& g) {
  if (g.peers.distinct() == 1 && g.incoming == 0) return " dst " + *g.peers.only();
  if (g.listener) return fmt::format(" sport = :{}", ctx.snap.sockets[*g.listener].local.port);
  return {};
}

std::vector<std::string> remedies(const RuleContext& ctx, const Group& g) {
  std::vector<std::string> r;
  if (g.kind == Holder::AcceptQueue || g.kind == Holder::NoListener) {
    r.push_back(fmt::format("Find out why {} does not call accept() (a blocked or busy accept "
                            "loop, an exhausted worker pool); once accepted, reading the EOF and "
                            "closing ends these connections.",
                            g.process ? describe_process(*g.process) : "the listener"));
    r.push_back(fmt::format("A larger backlog (the listen() argument, capped by "
                            "net.core.somaxconn{}) only absorbs bursts; it does not help a "
                            "listener that stopped accepting.",
                            ctx.kernel.somaxconn ? fmt::format(" = {}", *ctx.kernel.somaxconn)
                                                 : std::string()));
    return r;
  }
  r.push_back("Fix the application: when read()/recv() returns 0 (or epoll reports EPOLLRDHUP), "
              "close() the socket, and close it on every error path as well.");
  if (g.outgoing > 0)
    r.push_back("If these are pooled outgoing connections, make the pool detect connections the "
                "server has closed (EOF on an idle connection) and evict them; writing to one "
                "fails with EPIPE.");
  if (!g.co_holders.empty())
    r.push_back("Create sockets with SOCK_CLOEXEC (accept4(..., SOCK_CLOEXEC)) so that child "
                "processes do not inherit them.");
  if (g.kind == Holder::Process)
    r.push_back(fmt::format("Relief now: restarting {} closes them. `ss -K state close-wait{}` "
                            "sends RST to the peer and moves them to CLOSE, but the fds stay open "
                            "until the application closes them: it does not cure the leak. {}",
                            describe_process(*g.process), ss_filter(ctx, g),
                            sock_destroy_sentence(ctx.kernel)));
  if (g.kind == Holder::Unseen) r.push_back(unseen_holder_remedy(ctx));
  return r;
}

void evidence(const RuleContext& ctx, const Group& g, Finding& f) {
  f.add("recv_q_eof_unread", "Recv-Q 1 (EOF not read)", static_cast<std::int64_t>(g.eof_unread));
  f.add("recv_q_eof_read", "Recv-Q 0 (EOF read, not closed)",
        static_cast<std::int64_t>(g.eof_read));
  f.add("recv_q_data_unread", "Recv-Q > 1 (data unread)", static_cast<std::int64_t>(g.data_unread));
  f.add("keepalive_timers", "with keepalive timer", static_cast<std::int64_t>(g.keepalive));
  if (g.retransmitting > 0)
    f.add("retransmitting", "retransmitting", static_cast<std::int64_t>(g.retransmitting));
  f.add("outgoing", "outgoing (ephemeral local port)", static_cast<std::int64_t>(g.outgoing));
  f.add("incoming", "incoming (on a listening port)", static_cast<std::int64_t>(g.incoming));
  if (g.oldest) {
    f.add("oldest_age_basis", "age from",
          std::string(g.oldest_traced ? "traced (exact)" : "last_ack (lower bound)"));
    if (g.oldest_upper > 0)
      f.add("oldest_last_data_recv_seconds", "oldest: last data received (s ago)", g.oldest_upper);
  }
  if (g.unknown_age > 0)
    f.add("unknown_age", "age unknown", static_cast<std::int64_t>(g.unknown_age));
  if (g.kind == Holder::Process && g.process->fd_limit > 0) {
    f.add("fd_count", "open fds", static_cast<std::int64_t>(g.process->fd_count));
    f.add("fd_limit", "fd limit (RLIMIT_NOFILE)", static_cast<std::int64_t>(g.process->fd_limit));
  }
  if (g.listener) {
    const auto& l = ctx.snap.sockets[*g.listener];
    f.add("listener", "listener", core::to_string(l.local));
    f.add("accept_queue", "accept queue (now / max)", fmt::format("{} / {}", l.recv_q, l.send_q));
  }
  f.add("peers", "peers", g.peers.top(ctx.opt.max_listed));
  if (!g.co_holders.empty()) {
    std::vector<std::string> also;
    for (const auto& [pid, p] : g.co_holders)
      also.push_back(describe_process(*p));
    f.add("also_held_by", "also held by", also);
  }
}

Finding make_finding(const RuleContext& ctx, const Group& g) {
  Finding f;
  f.id = (g.kind == Holder::AcceptQueue || g.kind == Holder::NoListener) ? "close_wait_unaccepted"
                                                                         : "close_wait_leak";
  f.severity = severity(ctx, g);
  f.title = title(ctx, g);
  name_holder(ctx, g.process, f);
  f.peer = g.peers.only();
  f.count = g.count;
  f.oldest_age_seconds = g.oldest;
  f.oldest_age_lower_bound = g.oldest.has_value() && !g.oldest_traced;
  evidence(ctx, g, f);
  f.explanation = explanation(ctx, g);
  f.remedies = remedies(ctx, g);
  return f;
}

} // namespace

void close_wait(const RuleContext& ctx, std::vector<Finding>& out) {
  std::map<Key, Group> groups;
  const auto& socks = ctx.snap.sockets;
  for (std::size_t i = 0; i < socks.size(); ++i) {
    if (socks[i].state != core::TcpState::CloseWait) continue;
    const Age& age = ctx.age(i);
    // A short CLOSE_WAIT is normal: the application has not got round to close() yet.
    if (age.seconds && *age.seconds < ctx.opt.min_age_seconds) continue;
    Group proto;
    const Key key = group_key(ctx, socks[i], proto);
    auto [it, fresh] = groups.try_emplace(key, std::move(proto));
    account(ctx, i, it->second);
  }
  for (const auto& [key, g] : groups) {
    // A full queue is reported (critical) by the accept-queue rule, which counts these too.
    if (g.listener && listener_full(ctx.snap.sockets[*g.listener])) continue;
    out.push_back(make_finding(ctx, g));
  }
}

} // namespace sockdoctor::analyze::rules
