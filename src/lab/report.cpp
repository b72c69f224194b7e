// lab: records a run and renders it, live as text (like the article's `netstat | grep` loop) or
// at the end as one JSON document.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lab/lab.hpp"
#include "render/escape.hpp"
#include "render/findings_json.hpp"
#include "render/findings_text.hpp"

namespace sockdoctor::lab {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::size_t kWidth = 100;

std::string esc(std::string_view raw) {
  return render::escape_for_terminal(raw);
}

// Valid UTF-8 passes unchanged; anything else becomes \xNN text, so the document stays valid.
std::string utf8(std::string_view raw) {
  std::string body;
  render::append_json_string_body(body, raw);
  return Json::parse("\"" + body + "\"").get<std::string>();
}

Json entry_json(const TimelineEntry& e) {
  Json states = Json::object();
  for (const auto& [k, v] : e.states)
    states[k] = v;
  Json counts = Json::object();
  for (const auto& [k, v] : e.counts)
    counts[k] = v;
  Json events = Json::array();
  for (const auto& ev : e.events)
    events.push_back(Json{{"kind", ev.kind}, {"text", utf8(ev.text)}});
  return Json{{"t", std::round(e.t * 1000) / 1000},
              {"time", e.clock},
              {"states", std::move(states)},
              {"counts", std::move(counts)},
              {"events", std::move(events)}};
}

Json diagnosis_json(const LabDiagnosis& d) {
  std::ostringstream s;
  render::render_findings_json(s, d.diagnosis);
  Json doc = Json::parse(s.str());
  return Json{{"t", std::round(d.t * 1000) / 1000},
              {"time", d.clock},
              {"label", utf8(d.label)},
              {"findings", std::move(doc["findings"])},
              {"summary", std::move(doc["summary"])}};
}

Json result_json(const Result& r) {
  Json j;
  j["schema_version"] = 1;
  j["scenario"] = r.scenario;
  j["title"] = r.title;
  j["fast"] = r.fast;
  j["kernel_release"] = utf8(r.kernel_release);
  j["netns_inode"] = r.netns_inode;
  j["server"] = r.server.empty() ? Json(nullptr) : Json(r.server);
  j["server_detail"] = r.server_detail.empty() ? Json(nullptr) : Json(utf8(r.server_detail));
  Json sysctls = Json::object();
  for (const auto& [k, v] : r.sysctls)
    sysctls[k] = v;
  j["sysctls"] = std::move(sysctls);
  j["setup"] = Json::array();
  for (const auto& s : r.setup)
    j["setup"].push_back(utf8(s));
  j["processes"] = Json::array();
  for (const auto& p : r.processes)
    j["processes"].push_back(Json{{"role", p.role}, {"pid", p.pid}, {"comm", utf8(p.comm)}});
  j["ends"] = Json::array();
  for (const auto& e : r.ends)
    j["ends"].push_back(
        Json{{"key", e.key}, {"label", e.label}, {"description", utf8(e.description)}});
  j["timeline"] = Json::array();
  for (const auto& e : r.timeline)
    j["timeline"].push_back(entry_json(e));
  j["diagnoses"] = Json::array();
  for (const auto& d : r.diagnoses)
    j["diagnoses"].push_back(diagnosis_json(d));
  j["checks"] = Json::array();
  for (const auto& c : r.checks)
    j["checks"].push_back(Json{{"id", c.id},
                               {"expectation", utf8(c.expectation)},
                               {"observed", utf8(c.observed)},
                               {"ok", c.ok}});
  j["lesson"] = Json::array();
  for (const auto& l : r.lesson)
    j["lesson"].push_back(
        Json{{"text", utf8(l.text)},
             {"corrects", l.claim.empty()
                              ? Json(nullptr)
                              : Json{{"claim", utf8(l.claim)}, {"source", utf8(l.claim_source)}}}});
  j["passed"] = r.passed();
  j["error"] = r.error.empty() ? Json(nullptr) : Json(utf8(r.error));
  j["duration_seconds"] = std::round(r.duration_seconds * 10) / 10;
  return j;
}

} // namespace

Recorder::Recorder(Result& result, std::ostream* live, bool color)
    : r_(result), live_(live), color_(color), t0_(std::chrono::steady_clock::now()) {}

double Recorder::at(std::chrono::steady_clock::time_point t) const {
  return std::chrono::duration<double>(t - t0_).count();
}

void Recorder::start_clock() {
  t0_ = std::chrono::steady_clock::now();
}

double Recorder::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

std::vector<std::size_t> Recorder::widths() const {
  std::vector<std::size_t> w;
  for (const auto& e : r_.ends)
    w.push_back(std::max<std::size_t>(e.label.size(), 11));
  for (const auto& k : r_.count_keys)
    w.push_back(std::max<std::size_t>(k.size(), 6));
  return w;
}

void Recorder::begin_timeline() {
  if (live_ == nullptr) return;
  auto& o = *live_;
  o << fmt::format("sockdoctor lab {}: {}\n", r_.scenario, esc(r_.title));
  o << fmt::format("  kernel {}, a private network namespace, loopback only{}\n",
                   esc(r_.kernel_release), r_.fast ? " (--fast)" : "");
  if (!r_.server_detail.empty()) o << "  server: " << esc(r_.server_detail) << "\n";
  if (!r_.sysctls.empty()) {
    std::string s;
    for (const auto& [k, v] : r_.sysctls)
      s += (s.empty() ? "" : ", ") + k + "=" + v;
    o << "  " << wrap_text("sysctls in the namespace: " + s, kWidth, 4, 2) << "\n";
  }
  for (const auto& line : r_.setup)
    o << "  " << wrap_text(esc(line), kWidth, 4, 2) << "\n";
  for (const auto& e : r_.ends)
    o << fmt::format("  {:<12} {}\n", e.label, esc(e.description));
  o << "\n";
  std::string head = fmt::format("{:<8}  {:>6}", "TIME", "+T");
  const auto w = widths();
  std::size_t col = 0;
  for (const auto& e : r_.ends)
    head += fmt::format("  {:<{}}", e.label, w[col++]);
  for (const auto& k : r_.count_keys)
    head += fmt::format("  {:>{}}", k, w[col++]);
  o << head << "  EVENTS\n";
  o.flush();
}

void Recorder::add(std::vector<std::pair<std::string, std::string>> states,
                   std::vector<std::pair<std::string, std::int64_t>> counts,
                   std::vector<Event> events) {
  TimelineEntry e;
  e.t = elapsed();
  e.clock = clock_text(std::chrono::system_clock::now());
  e.states = std::move(states);
  e.counts = std::move(counts);
  e.events = std::move(events);
  if (live_ != nullptr) {
    *live_ << format_timeline_row(e, widths()) << "\n";
    live_->flush();
  }
  r_.timeline.push_back(std::move(e));
}

void Recorder::diagnosis(std::string label, analyze::Diagnosis d, double at) {
  LabDiagnosis ld;
  const double now = elapsed();
  ld.t = at >= 0 ? at : now;
  ld.clock = clock_text(std::chrono::system_clock::now() -
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::duration<double>(now - ld.t)));
  ld.label = std::move(label);
  ld.diagnosis = std::move(d);
  if (live_ != nullptr) {
    auto& o = *live_;
    o << fmt::format("\n--- sockdoctor check at {} (+{:.1f}s): {}\n", ld.clock, ld.t,
                     esc(ld.label));
    render::render_findings_text(o, ld.diagnosis, {.color = color_, .width = 100});
    o << "---\n\n";
    o.flush();
  }
  r_.diagnoses.push_back(std::move(ld));
}

void Recorder::note(std::string_view text) {
  if (live_ == nullptr) return;
  *live_ << "  " << wrap_text(esc(text), kWidth, 4, 2) << "\n";
  live_->flush();
}

void Recorder::check(std::string id, std::string expectation, std::string observed, bool ok) {
  r_.checks.push_back({std::move(id), std::move(expectation), std::move(observed), ok});
}

void Recorder::lesson(std::string text, std::string claim, std::string_view source) {
  r_.lesson.push_back({std::move(text), std::move(claim), std::string(source)});
}

void Recorder::finish(std::ostream& out) {
  if (live_ == nullptr) {
    out << result_json(r_).dump(2) << "\n";
    out.flush();
    return;
  }
  if (!r_.checks.empty()) {
    out << "\nWhat this kernel did, against research/kernel-facts.md:\n";
    for (const auto& c : r_.checks) {
      const std::string mark = c.ok ? "ok  " : (color_ ? "\x1b[31mFAIL\x1b[0m" : "FAIL");
      out << "  " << mark << " "
          << wrap_text(esc(c.expectation) + ": " + esc(c.observed), kWidth, 7, 7) << "\n";
    }
  }
  if (!r_.lesson.empty()) {
    out << "\nLesson:\n";
    for (const auto& l : r_.lesson) {
      if (!l.claim.empty()) {
        out << "  - "
            << wrap_text("Claim (" + esc(l.claim_source) + "): \"" + esc(l.claim) + "\"", kWidth, 4,
                         4)
            << "\n";
        out << "    " << wrap_text("In fact: " + esc(l.text), kWidth, 4, 4) << "\n";
      } else {
        out << "  - " << wrap_text(esc(l.text), kWidth, 4, 4) << "\n";
      }
    }
  }
  const auto failed =
      std::count_if(r_.checks.begin(), r_.checks.end(), [](const Check& c) { return !c.ok; });
  out << "\n";
  if (!r_.error.empty())
    out << fmt::format("lab {}: could not complete: {}\n", r_.scenario, esc(r_.error));
  else if (failed > 0)
    out << fmt::format("lab {}: {} of {} checks failed: this kernel did not behave as described "
                       "({:.1f} s).\n",
                       r_.scenario, failed, r_.checks.size(), r_.duration_seconds);
  else
    out << fmt::format("lab {}: all {} checks passed in {:.1f} s; its processes and namespace are "
                       "gone.\n",
                       r_.scenario, r_.checks.size(), r_.duration_seconds);
  out.flush();
}

} // namespace sockdoctor::lab
