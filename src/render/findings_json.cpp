// JSON report for `sockdoctor check --json`, schema_version 1, two-space indented.
#include "render/findings_json.hpp"

#include <ostream>
#include <variant>

#include "core/tcp_state.hpp"
#include "render/json_writer.hpp"
#include "render/workload.hpp"

namespace sockdoctor::render {
namespace {

void write_value(JsonWriter& w, const analyze::EvidenceValue& v) {
  struct Visit {
    JsonWriter& w;
    void operator()(bool b) const { w.boolean(b); }
    void operator()(std::int64_t i) const { w.number(i); }
    void operator()(double d) const { w.number(d); }
    void operator()(const std::string& s) const { w.string(s); }
    void operator()(const std::vector<std::string>& l) const {
      w.begin_array();
      for (const auto& s : l)
        w.string(s);
      w.end_array();
    }
  };
  std::visit(Visit{w}, v);
}

// One member per key, in first-seen order, holding the last value given for it: a JSON object
// never repeats a key.
void write_evidence(JsonWriter& w, const std::vector<analyze::EvidenceItem>& items) {
  w.key("evidence").begin_object();
  for (std::size_t i = 0; i < items.size(); ++i) {
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j)
      seen = items[j].key == items[i].key;
    if (seen) continue;
    std::size_t last = i;
    for (std::size_t j = i + 1; j < items.size(); ++j)
      if (items[j].key == items[i].key) last = j;
    write_value(w.key_escaped(items[i].key), items[last].value);
  }
  w.end_object();
}

void write_finding(JsonWriter& w, const analyze::Finding& f) {
  w.begin_object().key("id").string(f.id);
  w.key("severity").string(analyze::severity_name(f.severity)).key("title").string(f.title);
  w.key("process");
  if (f.process)
    w.begin_object()
        .key("pid")
        .number(f.process->pid)
        .key("comm")
        .string(f.process->comm)
        .key("cmdline")
        .string(f.process->cmdline)
        .end_object();
  else
    w.null();
  w.key("workload");
  if (f.workload.empty())
    w.null();
  else
    write_workload_json(w, f.workload);
  w.key("peer");
  f.peer ? w.string(*f.peer) : w.null();
  w.key("count").number(f.count).key("oldest_age_seconds");
  f.oldest_age_seconds ? w.number(*f.oldest_age_seconds) : w.null();
  w.key("oldest_age_lower_bound").boolean(f.oldest_age_lower_bound);
  write_evidence(w, f.evidence);
  w.key("explanation").string(f.explanation).key("remedies").begin_array();
  for (const auto& r : f.remedies)
    w.string(r);
  w.end_array().end_object();
}

void write_summary(JsonWriter& w, const analyze::Diagnosis& d) {
  const auto& s = d.summary;
  // Info findings do not change the verdict (exit status 0).
  w.key("summary").begin_object().key("status");
  w.string(d.worst() == analyze::Severity::Info ? "ok" : analyze::severity_name(d.worst()));
  w.key("total_sockets").number(s.total_sockets).key("states").begin_object();
  for (auto st : core::kAllStates)
    w.key_escaped(core::snake_name(st)).number(s.per_state[static_cast<std::size_t>(st)]);
  w.end_object().key("owners").begin_object();
  w.key("scanned").boolean(s.owners_scanned).key("complete").boolean(!d.owners_incomplete());
  w.key("denied_processes").number(s.owners_denied);
  w.key("vanished_processes").number(s.owners_vanished);
  w.key("unattributed_sockets").number(s.unattributed_sockets);
  w.end_object().end_object();
}

} // namespace

void write_diagnosis_members(JsonWriter& w, const analyze::Diagnosis& d) {
  w.key("findings").begin_array();
  for (const auto& f : d.findings)
    write_finding(w, f);
  w.end_array();
  write_summary(w, d);
}

void render_findings_json(std::ostream& out, const analyze::Diagnosis& d) {
  JsonWriter w(out, JsonLayout::Indented);
  w.begin_object().key("schema_version").number(1);
  write_diagnosis_members(w, d);
  w.end_object();
  w.finish();
}

} // namespace sockdoctor::render
