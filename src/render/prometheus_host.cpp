// Prometheus families about the kernel's counters and the exporter itself: TIME_WAIT overflow,
// listen overflows and drops, orphans, findings, collectors, build info, missing privileges.
#include <algorithm>
#include <map>

#include "render/exposition.hpp"
#include "render/prometheus.hpp"

namespace sockdoctor::render {

using analyze::HostModel;

namespace {

// The settings read for one namespace: its own, or sockdoctor's for its own namespace; nullptr
// when that namespace's counters were not read (never another namespace's numbers).
const core::KernelSettings*
kernel_for(const HostModel& m, const ExporterInfo& info, std::uint32_t ino) {
  const auto& sample = *m.sample;
  if (auto it = sample.netns_kernel.find(ino); it != sample.netns_kernel.end()) return &it->second;
  if ((ino == info.own_netns || ino == 0) && sample.kernel) return &*sample.kernel;
  return nullptr;
}

std::optional<std::uint64_t> counter(const std::map<std::string, std::uint64_t>& m,
                                     const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
}

using Getter = std::optional<std::uint64_t> (*)(const core::KernelSettings&);

struct PerNetns {
  const char* base;
  MetricType type;
  const char* help;
  Getter get;
};

const PerNetns kPerNetns[] = {
    {"sockdoctor_tcp_time_wait_overflows", MetricType::Counter,
     "Connections that closed without a TIME_WAIT entry because tcp_max_tw_buckets was reached "
     "(TcpExtTCPTimeWaitOverflow).",
     [](const core::KernelSettings& k) { return counter(k.tcp_ext, "TCPTimeWaitOverflow"); }},
    {"sockdoctor_tcp_listen_overflows", MetricType::Counter,
     "Handshakes completed while a listener's accept queue was full (TcpExtListenOverflows).",
     [](const core::KernelSettings& k) { return counter(k.tcp_ext, "ListenOverflows"); }},
    {"sockdoctor_tcp_listen_drops", MetricType::Counter,
     "Incoming connections dropped at a listener, overflows included (TcpExtListenDrops).",
     [](const core::KernelSettings& k) { return counter(k.tcp_ext, "ListenDrops"); }},
    {"sockdoctor_tcp_time_wait_entries", MetricType::Gauge,
     "TIME_WAIT entries the kernel counts against tcp_max_tw_buckets (/proc/net/sockstat tw).",
     [](const core::KernelSettings& k) { return k.sockstat_tw; }},
    {"sockdoctor_tcp_max_tw_buckets", MetricType::Gauge,
     "The limit of TIME_WAIT entries (net.ipv4.tcp_max_tw_buckets).",
     [](const core::KernelSettings& k) {
       return k.tcp_max_tw_buckets && *k.tcp_max_tw_buckets >= 0
                  ? std::optional<std::uint64_t>(*k.tcp_max_tw_buckets)
                  : std::nullopt;
     }},
};

} // namespace

void write_kernel(Exposition& x,
                  const HostModel& m,
                  const ExporterInfo& info,
                  const std::vector<std::uint32_t>& shown) {
  for (const auto& f : kPerNetns) {
    x.family(f.base, f.type, f.help);
    for (auto ino : shown)
      if (const auto* k = kernel_for(m, info, ino))
        if (auto v = f.get(*k)) x.sample({{"netns", std::to_string(ino)}}, *v);
  }
  // Orphans are counted host-wide, and tcp_max_orphans is one host-wide limit: any namespace's
  // sockstat says the same, so a serve that watches only --netns namespaces still exports them.
  const auto* own = kernel_for(m, info, 0);
  if (own == nullptr && !m.sample->netns_kernel.empty())
    own = &m.sample->netns_kernel.begin()->second;
  x.family("sockdoctor_tcp_orphan_sockets", MetricType::Gauge,
           "Orphaned TCP sockets (closed by their process, still in FIN_WAIT1, LAST_ACK or "
           "CLOSING), host-wide (/proc/net/sockstat orphan).");
  if (own && own->sockstat_orphan) x.sample({}, *own->sockstat_orphan);
  x.family("sockdoctor_tcp_max_orphans", MetricType::Gauge,
           "The limit of orphaned sockets (net.ipv4.tcp_max_orphans).");
  if (own && own->tcp_max_orphans && *own->tcp_max_orphans >= 0)
    x.sample({}, static_cast<std::uint64_t>(*own->tcp_max_orphans));
}

namespace {

// The eBPF state register: whether it was read, and whether it keeps up. Entries it had to give
// up are counted by its programs; exported so that a fleet sees them, never silent.
void write_register(Exposition& x, const core::TracedView* traced) {
  x.family("sockdoctor_register_up", MetricType::Gauge,
           "Whether a running eBPF state register was read for this scrape (exact ages, "
           "TIME_WAIT per closing process).");
  x.sample({}, std::uint64_t{traced ? 1u : 0u});
  x.family("sockdoctor_register_traced_sockets", MetricType::Gauge,
           "Sockets of this scrape whose entry into their state the register saw (exact ages).");
  if (traced) x.sample({}, static_cast<std::uint64_t>(traced->by_cookie.size()));
  x.family("sockdoctor_register_capacity_entries", MetricType::Gauge,
           "Sockets the register holds at once (sets of 4 ways by socket cookie).");
  if (traced) x.sample({}, std::uint64_t{traced->info.max_entries});
  const core::RegisterCounters* c = traced && traced->counters ? &*traced->counters : nullptr;
  x.family("sockdoctor_register_evictions", MetricType::Counter,
           "Register entries replaced in a full set while their socket may still exist: those "
           "sockets' ages are estimates again and their closer unknown (since the register's "
           "host started).");
  if (c) x.sample({}, c->evictions);
  x.family("sockdoctor_register_not_stored", MetricType::Counter,
           "Socket transitions the register could not store: the way it needed was being "
           "written on another CPU (since the register's host started).");
  if (c) x.sample({}, c->insert_failures);
  x.family("sockdoctor_register_reclaimed", MetricType::Counter,
           "Register entries of ended TIME_WAIT sockets reused for new sockets, no loss (since "
           "the register's host started).");
  if (c) x.sample({}, c->reclaimed);
}

} // namespace

void write_meta(Exposition& x, const HostModel& m, const ExporterInfo& info) {
  x.family("sockdoctor_build", MetricType::Info,
           "The version of sockdoctor serving these metrics.");
  x.sample({{"version", info.version}}, std::uint64_t{1});

  x.family("sockdoctor_exporter_samples", MetricType::Counter,
           "Samples taken since the exporter started (concurrent scrapes, and scrapes within "
           "--min-interval of a sample, share one).");
  x.sample({}, info.samples);

  x.family("sockdoctor_collector_success", MetricType::Gauge,
           "Whether the collector succeeded for this scrape (1) or not (0).");
  for (const auto& c : m.sample->collectors)
    x.sample({{"collector", c.name}}, std::uint64_t{c.success ? 1u : 0u});
  x.family("sockdoctor_collector_duration_seconds", MetricType::Gauge,
           "How long the collector took for this scrape.", "seconds");
  for (const auto& c : m.sample->collectors)
    x.sample({{"collector", c.name}}, c.duration_seconds);
  x.family("sockdoctor_owner_scan_denied_processes", MetricType::Gauge,
           "Processes whose sockets could not be named for lack of privileges.");
  if (const auto* owners = m.sample->collector("owners"))
    x.sample({}, std::uint64_t{owners->denied});
  write_register(x, m.sample->traced ? &*m.sample->traced : nullptr);

  x.family("sockdoctor_capability_missing", MetricType::Gauge,
           "What this exporter cannot see for lack of privileges (1 per missing capability).");
  for (const auto& what : info.missing)
    x.sample({{"what", what}}, std::uint64_t{1});

  std::map<std::pair<std::string, std::string>, std::uint64_t> findings;
  for (const auto& f : m.diagnosis.findings)
    ++findings[{f.id, std::string(analyze::severity_name(f.severity))}];
  x.family("sockdoctor_findings", MetricType::Gauge,
           "Findings of `sockdoctor check` by rule id and severity.");
  for (const auto& [key, n] : findings)
    x.sample({{"id", key.first}, {"severity", key.second}}, n);
}

std::size_t worst_case_series(const SeriesLimits& l, std::size_t missing) {
  constexpr std::size_t kStates = core::kAllStates.size();
  constexpr std::size_t kCollectors = 4;    // sockets, owners, kernel, register
  constexpr std::size_t kFindingKinds = 36; // 12 rule ids x 3 severities, generous
  const std::size_t ns = l.namespaces + 1;  // + "other"
  const std::size_t holders = l.holders + 1;
  constexpr std::size_t kRegister = 6; // up, traced, capacity, 3 counters
  return 2 + kRegister + 2 * kCollectors + 1 + missing + kFindingKinds // meta
         + ns * kStates + l.namespaces                                 // states, names
         + holders * 3                                                 // holders: 2 states + age
         + holders * 2                              // TIME_WAIT causes: count + age
         + (l.destinations + 1) + l.destinations    // port budgets
         + l.namespaces * std::size(kPerNetns) + 2; // kernel counters
}

} // namespace sockdoctor::render
