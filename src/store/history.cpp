// From the analysed host model to the rows of one interval.
#include "store/history.hpp"

#include <algorithm>

#include "core/address.hpp"

namespace sockdoctor::store {
namespace {

std::string unit_of(const core::Workload& w) {
  if (!w.pod_name.empty()) return w.pod_namespace + "/" + w.pod_name;
  if (!w.unit.empty()) return w.unit;
  return w.container_id.substr(0, 12);
}

} // namespace

IntervalRecord
interval_record(const analyze::HostModel& model, double time, const RecordLimits& limits) {
  IntervalRecord r;
  r.time = time;
  const auto& summary = model.diagnosis.summary;
  // A light sample (top's) lists only some states but counts all of them; a full one counts what
  // it lists. Either way sample->counts has every state.
  r.states = model.sample ? model.sample->counts : summary.per_state;
  if (model.sample && std::all_of(r.states.begin(), r.states.end(), [](auto c) { return c == 0; }))
    r.states = summary.per_state;
  for (auto c : r.states)
    r.total += c;

  const std::size_t nh = std::min(model.holders.size(), limits.holders);
  for (std::size_t i = 0; i < nh; ++i) {
    const auto& h = model.holders[i];
    r.holders.push_back({.pid = h.pid,
                         .name = h.comm,
                         .close_wait = h.close_wait,
                         .fin_wait2 = h.fin_wait2,
                         .oldest_s = h.oldest.seconds,
                         .unit = unit_of(h.workload)});
  }
  const std::size_t nb = std::min(model.budgets.size(), limits.budgets);
  for (std::size_t i = 0; i < nb; ++i) {
    const auto& b = model.budgets[i];
    r.budgets.push_back({.netns = b.netns,
                         .source = core::to_string(b.source),
                         .destination = core::to_string(b.destination),
                         .time_wait = b.time_wait,
                         .fin_wait2 = b.fin_wait2,
                         .live = b.live,
                         .usable = b.usable});
  }
  const auto& findings = model.diagnosis.findings;
  const std::size_t nf = std::min(findings.size(), limits.findings);
  for (std::size_t i = 0; i < nf; ++i) {
    const auto& f = findings[i];
    r.findings.push_back({.rule = f.id,
                          .severity = f.severity,
                          .title = f.title,
                          .pid = f.process ? f.process->pid : 0,
                          .count = f.count});
  }
  return r;
}

} // namespace sockdoctor::store
