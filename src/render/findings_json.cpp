// JSON report for `sockdoctor check --json`, schema_version 1.
#include "render/findings_json.hpp"

#include <ostream>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "core/tcp_state.hpp"
#include "render/escape.hpp"

namespace sockdoctor::render {
namespace {

using Json = nlohmann::ordered_json;

// Valid UTF-8 passes unchanged; anything else becomes the same \xNN text `ls --json` uses.
std::string utf8(std::string_view raw) {
  std::string body;
  append_json_string_body(body, raw);
  return Json::parse("\"" + body + "\"").get<std::string>();
}

Json value_json(const analyze::EvidenceValue& v) {
  struct Visit {
    Json operator()(bool b) const { return b; }
    Json operator()(std::int64_t i) const { return i; }
    Json operator()(double d) const { return d; }
    Json operator()(const std::string& s) const { return utf8(s); }
    Json operator()(const std::vector<std::string>& l) const {
      Json a = Json::array();
      for (const auto& s : l)
        a.push_back(utf8(s));
      return a;
    }
  };
  return std::visit(Visit{}, v);
}

Json finding_json(const analyze::Finding& f) {
  Json j;
  j["id"] = f.id;
  j["severity"] = std::string(analyze::severity_name(f.severity));
  j["title"] = utf8(f.title);
  if (f.process)
    j["process"] = Json{{"pid", f.process->pid},
                        {"comm", utf8(f.process->comm)},
                        {"cmdline", utf8(f.process->cmdline)}};
  else
    j["process"] = nullptr;
  j["peer"] = f.peer ? Json(utf8(*f.peer)) : Json(nullptr);
  j["count"] = f.count;
  j["oldest_age_seconds"] = f.oldest_age_seconds ? Json(*f.oldest_age_seconds) : Json(nullptr);
  j["oldest_age_lower_bound"] = f.oldest_age_lower_bound;
  Json ev = Json::object();
  for (const auto& e : f.evidence)
    ev[e.key] = value_json(e.value);
  j["evidence"] = std::move(ev);
  j["explanation"] = utf8(f.explanation);
  Json rem = Json::array();
  for (const auto& r : f.remedies)
    rem.push_back(utf8(r));
  j["remedies"] = std::move(rem);
  return j;
}

Json summary_json(const analyze::Diagnosis& d) {
  const auto& s = d.summary;
  Json states = Json::object();
  for (auto st : core::kAllStates)
    states[std::string(core::snake_name(st))] = s.per_state[static_cast<std::size_t>(st)];
  Json j;
  // Info findings do not change the verdict (exit status 0).
  j["status"] = d.worst() == analyze::Severity::Info
                    ? std::string("ok")
                    : std::string(analyze::severity_name(d.worst()));
  j["total_sockets"] = s.total_sockets;
  j["states"] = std::move(states);
  j["owners"] = Json{{"scanned", s.owners_scanned},
                     {"complete", !d.owners_incomplete()},
                     {"denied_processes", s.owners_denied},
                     {"vanished_processes", s.owners_vanished},
                     {"unattributed_sockets", s.unattributed_sockets}};
  return j;
}

} // namespace

void render_findings_json(std::ostream& out, const analyze::Diagnosis& d) {
  Json doc;
  doc["schema_version"] = 1;
  Json findings = Json::array();
  for (const auto& f : d.findings)
    findings.push_back(finding_json(f));
  doc["findings"] = std::move(findings);
  doc["summary"] = summary_json(d);
  out << doc.dump(2) << '\n';
}

} // namespace sockdoctor::render
