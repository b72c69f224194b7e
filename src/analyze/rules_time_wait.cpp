// Rule: TIME_WAIT pressure on ephemeral ports per destination, and on tcp_max_tw_buckets
// (kernel-facts sections 3, 4, 8, 9).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "analyze/diagnose.hpp"
#include "analyze/host_model.hpp"
#include "analyze/kernel_model.hpp"
#include "analyze/knowledge.hpp"
#include "analyze/port_budget.hpp"

namespace sockdoctor::analyze::rules {
namespace {

// The peer host, for the timestamps question.
FlowKey host_key(const core::TcpSocket& s) {
  return FlowKey{s.netns_ino, core::Endpoint{s.peer.addr, 0}, {}};
}
FlowKey host_key(const PortBudget& b) {
  return FlowKey{b.netns, core::Endpoint{b.destination.addr, 0}, {}};
}

EphemeralPorts ephemeral_ports(const RuleContext& ctx) {
  return EphemeralPorts(
      ctx.snap.sockets, ctx.listeners(),
      [&ctx](std::uint32_t ns) -> const core::KernelSettings& { return ctx.kernel_of(ns); });
}

struct Timestamps {
  bool seen = false; // a live socket to that host reported tcp_info
  bool negotiated = false;
};

struct Verdict {
  int usable = 0;
  TwReuseVerdict reuse;
  bool ts_observed = false;
  bool ts = false;
  double block = 0;
  std::uint64_t blocked = 0;
  double fraction = 0;
  double max_rate = 0;
  double recent_rate = 0;
};

Verdict judge(const core::KernelSettings& k, const PortBudget& d, const Timestamps& ts) {
  Verdict v;
  v.usable = d.usable;
  v.ts_observed = ts.seen;
  v.ts = ts.seen ? ts.negotiated : effective_timestamps(k) != 0;
  v.reuse = tw_reuse_verdict(k, d.destination.addr, v.ts, d.source);
  v.block = tuple_block_seconds(k, v.reuse.applies);
  std::uint64_t blocking_tw = d.time_wait;
  if (v.reuse.applies) {
    // Older entries are reusable by connect(); only the young ones still block.
    blocking_tw = d.time_wait_unknown_age;
    for (double a : d.time_wait_ages)
      if (a < v.block) ++blocking_tw;
  }
  v.blocked = blocking_tw + d.fin_wait2 + d.live;
  v.fraction = static_cast<double>(v.blocked) / v.usable;
  v.max_rate = max_new_connection_rate(v.usable, static_cast<int>(d.live), v.block);
  v.recent_rate = static_cast<double>(d.time_wait) / time_wait_seconds(k);
  return v;
}

std::string recycle_note(const core::KernelSettings& k) {
  if (k.tcp_tw_recycle_present)
    return "Do not enable tcp_tw_recycle: it drops connections from clients behind NAT, which is "
           "why Linux 4.12 removed it.";
  if (kernel_at_least(k, 4, 12))
    return "tcp_tw_recycle, which old guides recommend for this, does not exist since Linux 4.12.";
  return {};
}

std::string tw_length_text(const core::KernelSettings& k) {
  if (k.tcp_tw_timeout)
    return fmt::format("{} s here (net.ipv4.tcp_tw_timeout, an Alibaba Cloud Linux sysctl)",
                       *k.tcp_tw_timeout);
  return "a fixed 60 s on Linux (TCP_TIMEWAIT_LEN; no sysctl changes it, tcp_fin_timeout "
         "included)";
}

std::string port_range_text(const core::PortRange& r) {
  return fmt::format("{}-{}", r.low, r.high);
}

std::string explain(const core::KernelSettings& k,
                    const core::PortRange& range,
                    const PortBudget& d,
                    const Verdict& v) {
  const auto src = core::to_string(d.source);
  const auto dst = core::to_string(d.destination);
  std::string out = fmt::format(
      "This host connects from {} to {} and closes first, so every closed connection leaves its "
      "4-tuple in TIME_WAIT for {}, plus timer slack of {}. connect() to this "
      "destination can choose among {} usable ephemeral ports (ip_local_port_range {}, minus "
      "reserved and listening ports); {} ({:.0f}%) are blocked now: {} by TIME_WAIT entries, {} "
      "by open connections{}. When all are blocked, connect() fails with EADDRNOTAVAIL (\"Cannot "
      "assign requested address\").",
      src, dst, tw_length_text(k), timer_slack_clause(k, time_wait_seconds(k)), v.usable,
      port_range_text(range), v.blocked, v.fraction * 100, v.blocked - d.fin_wait2 - d.live, d.live,
      d.fin_wait2 ? fmt::format(", {} by orphaned FIN_WAIT2 entries", d.fin_wait2) : std::string());
  out += fmt::format(" At most about {:.0f} new connections/s to it can be sustained; about "
                     "{:.0f}/s were closed over the last {} s.",
                     v.max_rate, v.recent_rate, time_wait_seconds(k));
  out += " " + v.reuse.reason + ".";
  if (v.reuse.applies)
    out += fmt::format(" So only entries younger than about {:.1f} s block a port.", v.block);
  if (!v.ts_observed)
    out += " (No open connection to that host showed whether timestamps were negotiated; "
           "assumed from tcp_timestamps.)";
  return out;
}

std::vector<std::string>
remedies(const core::KernelSettings& k, const core::PortRange& range, const Verdict& v) {
  std::vector<std::string> r;
  r.push_back(
      fmt::format("Reuse connections (keep-alive, a connection pool) instead of opening one "
                  "per request: each connection closed by this host blocks a port toward "
                  "this destination for about {:.0f} s.",
                  v.block));
  const int reuse = effective_tw_reuse(k);
  if (!v.reuse.applies && v.ts && (reuse == 0 || reuse == 2))
    r.push_back(fmt::format(
        "net.ipv4.tcp_tw_reuse=1 (now {}) lets connect() reuse a TIME_WAIT 4-tuple {}. It helps "
        "outgoing connections only, needs timestamps on both ends, and relies on them (PAWS) to "
        "reject delayed segments of the old connection.",
        reuse, tw_reuse_delay(k).text));
  if (!v.ts)
    r.push_back("tcp_tw_reuse cannot help while timestamps are not negotiated: check "
                "net.ipv4.tcp_timestamps on both ends (and middleboxes that strip the option).");
  r.push_back(fmt::format("Widen net.ipv4.ip_local_port_range (now {}): capacity per destination "
                          "grows with it. Ports your services listen on must then stay out of "
                          "connect()'s way: list them in net.ipv4.ip_local_reserved_ports.",
                          port_range_text(range)));
  r.push_back("Spread connections over more destination ports or addresses, or more source "
              "addresses (bind() the address with IP_BIND_ADDRESS_NO_PORT so the port is still "
              "chosen per destination).");
  if (auto note = recycle_note(k); !note.empty()) r.push_back(note);
  return r;
}

void evidence(const RuleContext& ctx,
              const core::PortRange& range,
              const PortBudget& d,
              const Verdict& v,
              Finding& f) {
  f.add("source", "source address", core::to_string(d.source));
  f.add("destination", "destination", core::to_string(d.destination));
  f.add("time_wait", "TIME_WAIT entries", static_cast<std::int64_t>(d.time_wait));
  if (d.fin_wait2)
    f.add("fin_wait2_orphaned", "orphaned FIN_WAIT2", static_cast<std::int64_t>(d.fin_wait2));
  f.add("live", "open connections", static_cast<std::int64_t>(d.live));
  f.add("blocked_ports", "ports blocked now", static_cast<std::int64_t>(v.blocked));
  f.add("usable_ports", "usable ephemeral ports", static_cast<std::int64_t>(v.usable));
  f.add("port_range", "ip_local_port_range", port_range_text(range));
  f.add("used_percent", "blocked (%)", std::round(v.fraction * 1000) / 10);
  f.add("tw_reuse", "tcp_tw_reuse",
        static_cast<std::int64_t>(effective_tw_reuse(ctx.kernel_of(d.netns))));
  f.add("timestamps", "timestamps",
        std::string(v.ts ? "negotiated" : "not negotiated") +
            (v.ts_observed ? "" : " (assumed from tcp_timestamps)"));
  f.add("tw_reuse_applies", "tcp_tw_reuse applies", v.reuse.applies);
  f.add("block_seconds", "a closed 4-tuple blocks for (s)", v.block);
  f.add("max_rate_per_second", "sustainable new connections/s", std::round(v.max_rate));
  f.add("recent_close_rate_per_second", "closed per second, last minute",
        std::round(v.recent_rate * 10) / 10);
  if (!d.time_wait_ages.empty()) {
    const auto [lo, hi] = std::minmax_element(d.time_wait_ages.begin(), d.time_wait_ages.end());
    f.add("youngest_time_wait_seconds", "youngest TIME_WAIT (s)", *lo);
    f.add("oldest_time_wait_seconds", "oldest TIME_WAIT (s, lower bound)", *hi);
  }
  if (!d.clients.empty()) {
    std::map<std::string, std::uint64_t> c;
    for (const auto& [pid, client] : d.clients)
      c[client.process ? describe_process(*client.process) : fmt::format("pid {}", pid)] =
          client.connections;
    f.add("open_connections_by", "open connections held by", top_counts(c, ctx.opt.max_listed));
  }
}

// Whether timestamps were negotiated is asked of live connections to the same host, and only
// for destinations that could be over the threshold at all (reuse only lowers usage).
std::unordered_map<FlowKey, Timestamps, FlowKeyHash>
timestamps_toward(const RuleContext& ctx, const std::vector<const PortBudget*>& candidates) {
  std::unordered_map<FlowKey, Timestamps, FlowKeyHash> ts;
  for (const PortBudget* b : candidates)
    ts.try_emplace(host_key(*b));
  if (candidates.empty()) return ts;
  for (const auto& s : ctx.snap.sockets) {
    if (!s.has_info || core::is_time_wait_entry(s) || s.state == core::TcpState::Listen) continue;
    auto it = ts.find(host_key(s));
    if (it == ts.end()) continue;
    it->second.seen = true;
    it->second.negotiated =
        it->second.negotiated || (s.info.options & core::kTcpiOptTimestamps) != 0;
  }
  return ts;
}

Finding port_finding(const RuleContext& ctx,
                     const EphemeralPorts& ports,
                     const PortBudget& d,
                     const Verdict& v) {
  const auto& k = ctx.kernel_of(d.netns);
  Finding f;
  f.id = "ephemeral_port_exhaustion";
  const bool critical = v.fraction >= ctx.opt.port_critical_fraction;
  f.severity = critical ? Severity::Critical : Severity::Warning;
  f.title = fmt::format("{} of {} ephemeral ports toward {} are blocked ({:.0f}%){}", v.blocked,
                        v.usable, core::to_string(d.destination), v.fraction * 100,
                        critical ? ": connect() is about to fail with EADDRNOTAVAIL" : "");
  if (d.clients.size() == 1 && d.clients.begin()->second.process)
    name_holder(ctx, d.clients.begin()->second.process, f);
  f.peer = core::to_string(d.destination);
  f.count = d.time_wait + d.fin_wait2;
  f.oldest_age_lower_bound = true;
  if (!d.time_wait_ages.empty())
    f.oldest_age_seconds = *std::max_element(d.time_wait_ages.begin(), d.time_wait_ages.end());
  const auto& range = ports.range(d.netns);
  evidence(ctx, range, d, v, f);
  f.explanation = explain(k, range, d, v);
  f.remedies = remedies(k, range, v);
  return f;
}

void port_findings(const RuleContext& ctx, std::vector<Finding>& out) {
  const EphemeralPorts ports = ephemeral_ports(ctx);
  std::vector<PortBudget> computed;
  const std::vector<PortBudget>* budgets = ctx.budgets();
  if (budgets == nullptr) {
    computed = port_budgets(ctx.snap.sockets, ctx.ages(), ports, SampleKnowledge(ctx.snap), nullptr,
                            ctx.aggregate);
    budgets = &computed;
  }
  std::vector<const PortBudget*> candidates;
  for (const auto& d : *budgets) // only open connections: not TIME_WAIT's
    if (port_rule_candidate(d, ctx.opt.port_warning_fraction)) candidates.push_back(&d);
  auto ts = timestamps_toward(ctx, candidates);
  for (const PortBudget* d : candidates) {
    const Verdict v = judge(ctx.kernel_of(d->netns), *d, ts[host_key(*d)]);
    if (v.fraction < ctx.opt.port_warning_fraction) continue;
    out.push_back(port_finding(ctx, ports, *d, v));
  }
}

struct NetnsTw {
  std::uint64_t total = 0, outgoing = 0, incoming = 0, fw2 = 0;
};

void bucket_findings(const RuleContext& ctx, std::vector<Finding>& out) {
  const EphemeralPorts ports = ephemeral_ports(ctx);
  std::map<std::uint32_t, NetnsTw> per_ns;
  for (const auto& s : ctx.snap.sockets) {
    if (!core::is_time_wait_entry(s)) continue;
    auto& n = per_ns[s.netns_ino];
    ++n.total;
    if (s.state == core::TcpState::FinWait2) ++n.fw2;
    if (ctx.is_listening_port(s.netns_ino, s.local.port))
      ++n.incoming;
    else if (ports.ephemeral(s))
      ++n.outgoing;
  }
  if (const auto* agg = ctx.aggregate) { // counted in the kernel by the same rules
    auto& n = per_ns[agg->netns];
    n.total += agg->counts[static_cast<std::size_t>(core::TcpState::TimeWait)];
    n.incoming += agg->time_wait_incoming;
    n.outgoing += agg->time_wait_outgoing;
  }
  NetnsTw worst;
  for (const auto& [ns, n] : per_ns)
    if (n.total > worst.total) worst = n;
  const auto limit = ctx.kernel.tcp_max_tw_buckets;
  const double fraction = limit && *limit > 0 ? static_cast<double>(worst.total) / *limit : 0;
  std::uint64_t overflow = 0;
  if (auto it = ctx.kernel.tcp_ext.find("TCPTimeWaitOverflow"); it != ctx.kernel.tcp_ext.end())
    overflow = it->second;
  if (fraction < ctx.opt.limit_warning_fraction && overflow == 0) return;

  Finding f;
  f.id = "time_wait_buckets";
  f.severity = fraction >= ctx.opt.limit_critical_fraction  ? Severity::Critical
               : fraction >= ctx.opt.limit_warning_fraction ? Severity::Warning
                                                            : Severity::Info;
  f.count = worst.total;
  if (limit)
    f.title = fmt::format("{} TIME_WAIT entries of tcp_max_tw_buckets {} ({:.0f}%){}", worst.total,
                          *limit, fraction * 100,
                          overflow ? fmt::format("; the table overflowed {} times", overflow) : "");
  else
    f.title = fmt::format("the TIME_WAIT table overflowed {} times", overflow);
  f.add("time_wait_entries", "TIME_WAIT + orphaned FIN_WAIT2 entries",
        static_cast<std::int64_t>(worst.total));
  if (limit) f.add("tcp_max_tw_buckets", "tcp_max_tw_buckets", static_cast<std::int64_t>(*limit));
  f.add("tcp_time_wait_overflow", "TcpExtTCPTimeWaitOverflow", static_cast<std::int64_t>(overflow));
  f.add("outgoing", "on ephemeral ports (this host is the client)",
        static_cast<std::int64_t>(worst.outgoing));
  f.add("incoming", "on listening ports (this host's server closed first)",
        static_cast<std::int64_t>(worst.incoming));
  f.explanation = fmt::format(
      "Every connection this host closes first needs a TIME_WAIT entry (an orphaned FIN_WAIT2 "
      "takes one too), and a network namespace holds at most tcp_max_tw_buckets of them{}. Over "
      "the limit a closing socket skips TIME_WAIT silently: no RST and no log message, only "
      "TcpExtTCPTimeWaitOverflow counts it ({} so far; the counter only grows). {} entries are "
      "from outgoing connections on ephemeral ports; {} are on listening ports, where this host's "
      "server closes first and no ephemeral port is involved.",
      limit ? fmt::format(" ({} here)", *limit) : std::string(), overflow, worst.outgoing,
      worst.incoming);
  f.remedies.push_back("Lowering tcp_max_tw_buckets is not a fix: it only makes more closing "
                       "sockets skip TIME_WAIT and lose its protection against delayed segments.");
  f.remedies.push_back("Raise net.ipv4.tcp_max_tw_buckets if memory allows: an entry has no fd "
                       "and is a small slab object (about 0.25 KB).");
  f.remedies.push_back("Open fewer short-lived connections (keep-alive, connection pools), on "
                       "whichever side closes first.");
  out.push_back(std::move(f));
}

} // namespace

void time_wait(const RuleContext& ctx, std::vector<Finding>& out) {
  port_findings(ctx, out);
  bucket_findings(ctx, out);
}

} // namespace sockdoctor::analyze::rules
