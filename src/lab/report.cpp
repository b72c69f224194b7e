// lab: records a run and renders it, live as text (like the article's `netstat | grep` loop) or
// at the end as one JSON document.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ostream>

#include "lab/lab.hpp"
#include "render/escape.hpp"
#include "render/findings_json.hpp"
#include "render/findings_text.hpp"
#include "render/json_writer.hpp"

namespace sockdoctor::lab {
namespace {

constexpr std::size_t kWidth = 100;

std::string esc(std::string_view raw) {
  return render::escape_for_terminal(raw);
}

using render::JsonWriter;

void optional_string(JsonWriter& w, const std::string& s) {
  if (s.empty())
    w.null();
  else
    w.string(s);
}

void write_entry(JsonWriter& w, const TimelineEntry& e) {
  w.begin_object().key("t").number(std::round(e.t * 1000) / 1000).key("time").string(e.clock);
  w.key("states").begin_object();
  for (const auto& [k, v] : e.states)
    w.key_escaped(k).string(v);
  w.end_object().key("counts").begin_object();
  for (const auto& [k, v] : e.counts)
    w.key_escaped(k).number(v);
  w.end_object().key("events").begin_array();
  for (const auto& ev : e.events)
    w.begin_object().key("kind").string(ev.kind).key("text").string(ev.text).end_object();
  w.end_array().end_object();
}

void write_diagnosis(JsonWriter& w, const LabDiagnosis& d) {
  w.begin_object().key("t").number(std::round(d.t * 1000) / 1000).key("time").string(d.clock);
  w.key("label").string(d.label);
  render::write_diagnosis_members(w, d.diagnosis);
  w.end_object();
}

void write_setup(JsonWriter& w, const Result& r) {
  w.key("sysctls").begin_object();
  for (const auto& [k, v] : r.sysctls)
    w.key_escaped(k).string(v);
  w.end_object().key("setup").begin_array();
  for (const auto& line : r.setup)
    w.string(line);
  w.end_array().key("processes").begin_array();
  for (const auto& p : r.processes) {
    w.begin_object().key("role").string(p.role).key("pid").number(p.pid);
    w.key("comm").string(p.comm).end_object();
  }
  w.end_array().key("ends").begin_array();
  for (const auto& e : r.ends) {
    w.begin_object().key("key").string(e.key).key("label").string(e.label);
    w.key("description").string(e.description).end_object();
  }
  w.end_array();
}

void write_outcome(JsonWriter& w, const Result& r) {
  w.key("checks").begin_array();
  for (const auto& c : r.checks) {
    w.begin_object().key("id").string(c.id).key("expectation").string(c.expectation);
    w.key("observed").string(c.observed).key("ok").boolean(c.ok).end_object();
  }
  w.end_array().key("lesson").begin_array();
  for (const auto& l : r.lesson) {
    w.begin_object().key("text").string(l.text).key("corrects");
    if (l.claim.empty())
      w.null();
    else
      w.begin_object()
          .key("claim")
          .string(l.claim)
          .key("source")
          .string(l.claim_source)
          .end_object();
    w.end_object();
  }
  w.end_array().key("passed").boolean(r.passed()).key("error");
  optional_string(w, r.error);
  w.key("duration_seconds").number(std::round(r.duration_seconds * 10) / 10);
}

// The whole run as one indented document (schema_version 1). Strings go through the one JSON
// escaper: invalid UTF-8 becomes \xNN text, C1 and bidi controls \uXXXX.
void write_result(std::ostream& out, const Result& r) {
  JsonWriter w(out, render::JsonLayout::Indented);
  w.begin_object().key("schema_version").number(1).key("scenario").string(r.scenario);
  w.key("title").string(r.title).key("fast").boolean(r.fast);
  w.key("kernel_release").string(r.kernel_release).key("netns_inode").number(r.netns_inode);
  w.key("server");
  optional_string(w, r.server);
  w.key("server_detail");
  optional_string(w, r.server_detail);
  write_setup(w, r);
  w.key("timeline").begin_array();
  for (const auto& e : r.timeline)
    write_entry(w, e);
  w.end_array().key("diagnoses").begin_array();
  for (const auto& d : r.diagnoses)
    write_diagnosis(w, d);
  w.end_array();
  write_outcome(w, r);
  w.end_object();
  w.finish();
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
    write_result(out, r_);
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
