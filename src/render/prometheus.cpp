// The host model as Prometheus metric families. Rows are grouped by their label values only
// (process name and workload, never pid, port or peer), the largest first, and cut at the limits.
#include "render/prometheus.hpp"

#include <algorithm>
#include <map>
#include <ostream>
#include <tuple>

#include "core/address.hpp"
#include "render/exposition.hpp"

namespace sockdoctor::render {
namespace {

using analyze::HostModel;

// The labels a holder or TIME_WAIT cause is grouped by.
struct Who {
  std::string owner; // process, none (no fd), unknown (not found), other (beyond the limit)
  std::string comm, unit, container, pod, pod_namespace;
  auto key() const { return std::tie(owner, comm, unit, container, pod, pod_namespace); }
  bool operator<(const Who& o) const { return key() < o.key(); }
};

struct Row {
  std::uint64_t a = 0, b = 0;           // close_wait, fin_wait2 (holders) or time_wait
  std::optional<double> oldest_seconds; // the oldest socket's age, when known
};

Who who_of(std::int32_t pid, const std::string& comm, const core::Workload& w) {
  Who r;
  r.owner = pid > 0 ? "process" : pid == analyze::kNoOwner ? "none" : "unknown";
  if (pid > 0) r.comm = comm;
  r.unit = w.unit;
  r.container = !w.container_name.empty() ? w.container_name : w.container_id.substr(0, 12);
  r.pod = !w.pod_name.empty() ? w.pod_name : w.pod_uid;
  r.pod_namespace = w.pod_namespace;
  return r;
}

void merge(Row& into, const Row& r) {
  into.a += r.a;
  into.b += r.b;
  if (r.oldest_seconds && (!into.oldest_seconds || *r.oldest_seconds > *into.oldest_seconds))
    into.oldest_seconds = r.oldest_seconds;
}

// Largest first (then by labels, for a stable order); rows beyond `limit` summed into "other".
std::vector<std::pair<Who, Row>> top_rows(const std::map<Who, Row>& rows, std::size_t limit) {
  std::vector<std::pair<Who, Row>> v(rows.begin(), rows.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& x, const auto& y) {
    return x.second.a + x.second.b > y.second.a + y.second.b;
  });
  if (v.size() <= limit) return v;
  Row other;
  for (std::size_t i = limit; i < v.size(); ++i)
    merge(other, v[i].second);
  v.resize(limit);
  v.push_back({Who{.owner = "other"}, other});
  return v;
}

Labels who_labels(const Who& w) {
  return {{"owner", w.owner},         {"comm", w.comm}, {"unit", w.unit},
          {"container", w.container}, {"pod", w.pod},   {"pod_namespace", w.pod_namespace}};
}

Labels with(Labels l, std::string_view name, std::string value) {
  l.emplace_back(name, std::move(value));
  return l;
}

void write_holders(Exposition& x, const HostModel& m, const SeriesLimits& lim) {
  std::map<Who, Row> rows;
  for (const auto& h : m.holders)
    merge(rows[who_of(h.pid, h.comm, h.workload)], {h.close_wait, h.fin_wait2, h.oldest.seconds});
  const auto top = top_rows(rows, lim.holders);
  x.family("sockdoctor_holder_sockets", MetricType::Gauge,
           "CLOSE_WAIT and FIN_WAIT2 sockets per holding process name and workload "
           "(owner: process, none = no fd (accept queue or orphan), unknown, other = beyond "
           "--top-holders).");
  for (const auto& [who, row] : top) {
    x.sample(with(who_labels(who), "state", "close_wait"), row.a);
    x.sample(with(who_labels(who), "state", "fin_wait2"), row.b);
  }
  x.family("sockdoctor_holder_oldest_socket_age_seconds", MetricType::Gauge,
           "Age of the oldest CLOSE_WAIT or FIN_WAIT2 socket of the holder (a lower bound for "
           "CLOSE_WAIT).",
           "seconds");
  for (const auto& [who, row] : top)
    if (row.oldest_seconds) x.sample(who_labels(who), *row.oldest_seconds);
}

void write_time_wait(Exposition& x, const HostModel& m, const SeriesLimits& lim) {
  std::map<Who, Row> rows;
  for (const auto& c : m.time_wait) {
    Who w = who_of(c.pid, c.comm, c.workload);
    w.owner = std::string(analyze::attribution_name(c.how));
    merge(rows[w], {c.time_wait, 0, c.oldest.seconds});
  }
  const auto top = top_rows(rows, lim.holders);
  auto labels = [](const Who& w) {
    Labels l = who_labels(w);
    l.front().first = "attribution"; // traced, listener, sole_client, unknown, other
    return l;
  };
  x.family("sockdoctor_time_wait_sockets", MetricType::Gauge,
           "TIME_WAIT entries by the process that caused them (attribution: traced, listener, "
           "sole_client, unknown, other = beyond --top-holders).");
  for (const auto& [who, row] : top)
    x.sample(labels(who), row.a);
  x.family("sockdoctor_time_wait_oldest_age_seconds", MetricType::Gauge,
           "Age of the oldest TIME_WAIT entry of the cause (a lower bound).", "seconds");
  for (const auto& [who, row] : top)
    if (row.oldest_seconds) x.sample(labels(who), *row.oldest_seconds);
}

// Socket counts per namespace (the largest `limit`, then "other") and their names.
void write_states(Exposition& x,
                  const HostModel& m,
                  const ExporterInfo& info,
                  const SeriesLimits& lim,
                  std::vector<std::uint32_t>& shown) {
  const auto& snap = m.snapshot();
  std::map<std::uint32_t, core::StateCounts> per_ns;
  for (const auto& ns : snap.namespaces)
    per_ns[ns.inode == 0 ? info.own_netns : ns.inode];
  for (const auto& s : snap.sockets)
    ++per_ns[s.netns_ino == 0 ? info.own_netns : s.netns_ino][static_cast<std::size_t>(s.state)];
  auto total = [](const core::StateCounts& c) {
    std::uint64_t t = 0;
    for (auto n : c)
      t += n;
    return t;
  };
  std::vector<std::pair<std::uint32_t, core::StateCounts>> v(per_ns.begin(), per_ns.end());
  std::stable_sort(v.begin(), v.end(),
                   [&](const auto& a, const auto& b) { return total(a.second) > total(b.second); });
  core::StateCounts other{};
  const bool cut = v.size() > lim.namespaces;
  for (std::size_t i = lim.namespaces; i < v.size(); ++i)
    for (std::size_t s = 0; s < other.size(); ++s)
      other[s] += v[i].second[s];
  if (cut) v.resize(lim.namespaces);

  x.family("sockdoctor_sockets", MetricType::Gauge,
           "TCP sockets per state and network namespace (netns: inode, other = beyond "
           "--max-netns).");
  auto write = [&](const std::string& ns, const core::StateCounts& c) {
    for (auto st : core::kAllStates)
      x.sample({{"netns", ns}, {"state", std::string(core::snake_name(st))}},
               c[static_cast<std::size_t>(st)]);
  };
  for (const auto& [ino, counts] : v) {
    write(std::to_string(ino), counts);
    shown.push_back(ino);
  }
  if (cut) write("other", other);

  x.family("sockdoctor_netns", MetricType::Info,
           "Names of the network namespaces shown (/run/netns name or container id).");
  for (const auto& ns : snap.namespaces) {
    const auto ino = ns.inode == 0 ? info.own_netns : ns.inode;
    if (!ns.name.empty() && std::find(shown.begin(), shown.end(), ino) != shown.end())
      x.sample({{"netns", std::to_string(ino)}, {"name", ns.name}}, std::uint64_t{1});
  }
}

void write_ports(Exposition& x,
                 const HostModel& m,
                 const ExporterInfo& info,
                 const SeriesLimits& lim) {
  x.family("sockdoctor_ephemeral_ports_in_use", MetricType::Gauge,
           "Local ephemeral ports taken toward one destination (open, TIME_WAIT and orphaned "
           "FIN_WAIT2), fullest first; destination=\"other\" sums the rest.");
  std::uint64_t other = 0;
  for (std::size_t i = 0; i < m.budgets.size(); ++i) {
    const auto& b = m.budgets[i];
    if (i >= lim.destinations) {
      other += b.in_use();
      continue;
    }
    x.sample({{"netns", std::to_string(b.netns == 0 ? info.own_netns : b.netns)},
              {"source", core::to_string(b.source)},
              {"destination", core::to_string(b.destination)}},
             b.in_use());
  }
  if (m.budgets.size() > lim.destinations)
    x.sample({{"netns", ""}, {"source", ""}, {"destination", "other"}}, other);
  x.family("sockdoctor_ephemeral_ports_usable", MetricType::Gauge,
           "Ephemeral ports connect() may pick toward that destination (ip_local_port_range "
           "minus reserved ports and ports of listeners).");
  for (std::size_t i = 0; i < m.budgets.size() && i < lim.destinations; ++i) {
    const auto& b = m.budgets[i];
    x.sample({{"netns", std::to_string(b.netns == 0 ? info.own_netns : b.netns)},
              {"source", core::to_string(b.source)},
              {"destination", core::to_string(b.destination)}},
             static_cast<std::uint64_t>(std::max(b.usable, 0)));
  }
}

} // namespace

std::string_view content_type(ExpositionFormat f) {
  return f == ExpositionFormat::OpenMetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

void write_kernel(Exposition& x,
                  const HostModel& m,
                  const ExporterInfo& info,
                  const std::vector<std::uint32_t>& shown);
void write_meta(Exposition& x, const HostModel& m, const ExporterInfo& info);

void render_prometheus(std::ostream& out,
                       const HostModel& model,
                       const ExporterInfo& info,
                       const SeriesLimits& limits,
                       ExpositionFormat format) {
  Exposition x(format);
  std::vector<std::uint32_t> shown; // namespaces with their own series
  write_meta(x, model, info);
  write_states(x, model, info, limits, shown);
  write_holders(x, model, limits);
  write_time_wait(x, model, limits);
  write_ports(x, model, info, limits);
  write_kernel(x, model, info, shown);
  out << x.finish();
}

} // namespace sockdoctor::render
