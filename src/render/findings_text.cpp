// Text report for `sockdoctor check`: wrapped at a fixed width, escaped, optionally coloured.
#include "render/findings_text.hpp"

#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/tcp_state.hpp"
#include "render/escape.hpp"
#include "render/text.hpp"
#include "render/workload.hpp"

namespace sockdoctor::render {
namespace {

using analyze::Severity;

constexpr std::size_t kLabelIndent = 12; // "  evidence  "
constexpr std::size_t kTitleIndent = 9;  // "CRITICAL "

class Writer {
public:
  Writer(const FindingsTextOptions& opt) : opt_(opt) {}

  std::string paint(std::string_view text, const char* sgr) const {
    if (!opt_.color) return std::string(text);
    return fmt::format("\x1b[{}m{}\x1b[0m", sgr, text);
  }

  // Appends raw text escaped and word-wrapped; continuation lines start with `indent` spaces.
  void wrap(std::string_view raw, std::size_t col, std::size_t indent) {
    wrap_escaped(escape_for_terminal(raw), col, indent);
  }

  void wrap_escaped(std::string_view text, std::size_t col, std::size_t indent) {
    append_wrapped(
        buf_, text,
        {.width = width(), .first_column = col, .indent = indent, .collapse_spaces = false});
    buf_ += '\n';
  }

  void labelled(std::string_view label, std::string_view raw) {
    labelled_escaped(label, escape_for_terminal(raw));
  }

  void labelled_escaped(std::string_view label, std::string_view text) {
    buf_ += fmt::format("  {:<{}}", label, kLabelIndent - 2);
    wrap_escaped(text, kLabelIndent, kLabelIndent);
  }

  void bullets(std::string_view label, const std::vector<std::string>& items) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      buf_ += fmt::format("  {:<{}}- ", i == 0 ? label : "", kLabelIndent - 2);
      wrap(items[i], kLabelIndent + 2, kLabelIndent + 2);
    }
  }

  std::string& buf() { return buf_; }
  std::size_t width() const { return static_cast<std::size_t>(opt_.width > 20 ? opt_.width : 20); }

private:
  const FindingsTextOptions& opt_;
  std::string buf_;
};

const char* severity_sgr(Severity s) {
  switch (s) {
  case Severity::Critical:
    return "1;31";
  case Severity::Warning:
    return "1;33";
  case Severity::Info:
    return "36";
  }
  return "0";
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return out;
}

std::string number(double v) {
  if (v == static_cast<double>(static_cast<long long>(v)))
    return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{:.1f}", v);
}

std::string value_text(const analyze::EvidenceValue& v) {
  struct Visit {
    std::string operator()(bool b) const { return b ? "yes" : "no"; }
    std::string operator()(std::int64_t i) const { return fmt::format("{}", i); }
    std::string operator()(double d) const { return number(d); }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(const std::vector<std::string>& l) const {
      std::string out;
      for (const auto& s : l)
        out += (out.empty() ? "" : ", ") + s;
      return out;
    }
  };
  return std::visit(Visit{}, v);
}

// Zero counts say nothing to a reader; JSON keeps them.
bool worth_showing(const analyze::EvidenceItem& e) {
  if (const auto* i = std::get_if<std::int64_t>(&e.value)) return *i != 0;
  if (const auto* l = std::get_if<std::vector<std::string>>(&e.value)) return !l->empty();
  return true;
}

void render_finding(Writer& w, const analyze::Finding& f) {
  const std::string sev = upper(analyze::severity_name(f.severity));
  w.buf() += w.paint(fmt::format("{:<{}}", sev, kTitleIndent - 1), severity_sgr(f.severity)) + " ";
  w.wrap(f.title, kTitleIndent, kTitleIndent);
  if (f.process && !f.process->cmdline.empty() && f.process->cmdline != f.process->comm)
    w.labelled_escaped(
        "command", // on one line, cut with an ASCII "..."
        truncate(escape_for_terminal(f.process->cmdline), w.width() - kLabelIndent, "..."));
  for (const auto& [label, text] : workload_lines(f.workload))
    w.labelled(label, text);
  if (f.peer) w.labelled("peer", *f.peer);
  if (f.oldest_age_seconds)
    w.labelled("oldest", (f.oldest_age_lower_bound ? "at least " : "") +
                             core::compact_duration(*f.oldest_age_seconds));
  std::string ev;
  for (const auto& e : f.evidence)
    if (worth_showing(e)) ev += (ev.empty() ? "" : "; ") + e.label + ": " + value_text(e.value);
  if (!ev.empty()) w.labelled("evidence", ev);
  if (!f.explanation.empty()) w.labelled("why", f.explanation);
  w.bullets("fix", f.remedies);
}

std::string state_line(const analyze::Summary& s) {
  std::string out;
  for (auto st : core::kAllStates) {
    const auto n = s.per_state[static_cast<std::size_t>(st)];
    if (n > 0) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", core::ss_name(st), n);
  }
  return out.empty() ? "none" : out;
}

std::string owners_note(const analyze::Summary& s) {
  const auto n = s.unattributed_sockets;
  const char* sockets = n == 1 ? "socket" : "sockets";
  if (!s.owners_scanned)
    return "owning processes were not looked up (--no-owners or replayed data)";
  // Denied processes matter only when some socket is left without an owner.
  if (s.owners_denied > 0 && n > 0)
    return fmt::format("owners of {} {} are unknown: {} process{} could not be inspected ({})", n,
                       sockets, s.owners_denied, s.owners_denied == 1 ? "" : "es",
                       s.owners_denied_lacking.empty()
                           ? std::string("another user namespace or a security module")
                           : "this process lacks " + s.owners_denied_lacking);
  if (n > 0)
    return fmt::format("no process was found for {} {} (another PID namespace, or the process "
                       "exited during the scan)",
                       n, sockets);
  return {};
}

void header(Writer& w, const analyze::Diagnosis& d) {
  std::size_t crit = 0, warn = 0;
  for (const auto& f : d.findings) {
    crit += f.severity == Severity::Critical;
    warn += f.severity == Severity::Warning;
  }
  const auto total = d.summary.total_sockets;
  if (crit + warn == 0) {
    w.buf() += w.paint("OK", "1;32");
    w.wrap(fmt::format(": {} TCP socket{}, no stuck sockets found", total, total == 1 ? "" : "s"),
           2, 2);
  } else {
    const Severity worst = crit ? Severity::Critical : Severity::Warning;
    w.buf() += w.paint(upper(analyze::severity_name(worst)), severity_sgr(worst));
    std::string counts;
    if (crit) counts += fmt::format("{} critical", crit);
    if (warn) counts += fmt::format("{}{} warning{}", crit ? ", " : "", warn, warn == 1 ? "" : "s");
    w.wrap(fmt::format(": {} among {} TCP socket{}", counts, total, total == 1 ? "" : "s"),
           upper(analyze::severity_name(worst)).size(), 2);
  }
  w.labelled("states", state_line(d.summary));
  if (auto note = owners_note(d.summary); !note.empty()) w.labelled("note", note);
}

} // namespace

void render_findings_text(std::ostream& out,
                          const analyze::Diagnosis& d,
                          const FindingsTextOptions& opt) {
  Writer w(opt);
  header(w, d);
  for (const auto& f : d.findings) {
    w.buf() += '\n';
    render_finding(w, f);
  }
  if (!d.ages_note.empty()) {
    w.buf() += '\n';
    w.wrap(d.ages_note, 0, 0);
  }
  out << w.buf();
}

} // namespace sockdoctor::render
