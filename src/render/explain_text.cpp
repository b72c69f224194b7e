// Text rendering of `sockdoctor explain`, wrapped to 80 columns, with optional ANSI colour.
#include "render/explain_text.hpp"

#include <algorithm>
#include <ostream>

#include "render/escape.hpp"
#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

// One place for the escape codes so a colourless run never emits any.
struct Style {
  bool on;
  std::string wrap(std::string_view text, std::string_view code) const {
    if (!on) return std::string(text);
    return "\x1b[" + std::string(code) + "m" + std::string(text) + "\x1b[0m";
  }
  std::string bold(std::string_view t) const { return wrap(t, "1"); }
  std::string dim(std::string_view t) const { return wrap(t, "2"); }
  std::string name(std::string_view t) const { return wrap(t, "36"); }
  std::string myth(std::string_view t) const { return wrap(t, "1;33"); }
  std::string truth(std::string_view t) const { return wrap(t, "1;32"); }
};

std::string value_text(const analyze::SettingInfo& s) {
  if (s.present && s.value_text.empty()) return "(none)";
  return escape_for_terminal(s.value_text);
}

std::string short_name(std::string_view name) {
  for (std::string_view prefix : {"net.ipv4.", "net.core."})
    if (name.substr(0, prefix.size()) == prefix) return std::string(name.substr(prefix.size()));
  return std::string(name);
}

// Wraps, then colours the whole block (colour codes are added after measuring).
void paragraph(std::ostream& out,
               std::string_view text,
               int width,
               int first,
               int rest,
               const Style& st,
               std::string (Style::*paint)(std::string_view) const = nullptr) {
  const std::string wrapped = wrap_text(text, width, first, rest);
  out << (paint != nullptr ? (st.*paint)(wrapped) : wrapped) << '\n';
}

void render_header(std::ostream& out, const core::KernelSettings& k, const Style& st) {
  out << st.dim("Kernel " + escape_for_terminal(analyze::kernel_label(k)) +
                "; values of this network namespace.")
      << "\n\n";
}

void render_topic(std::ostream& out,
                  const analyze::Topic& t,
                  const ExplainTextOptions& opt,
                  const Style& st) {
  const int w = opt.width;
  out << st.bold(t.title) << "  " << st.dim("(" + t.id + ")") << '\n';
  paragraph(out, t.summary, w, 0, 0, st);
  if (!t.settings.empty()) out << '\n' << st.bold("Settings") << '\n';
  for (const auto& s : t.settings) {
    out << "  " << st.name(s.name) << " = " << (s.present ? value_text(s) : st.dim("absent"))
        << '\n';
    paragraph(out, s.meaning, w, 6, 6, st);
  }
  if (!t.figures.empty()) out << '\n' << st.bold("Figures") << '\n';
  for (const auto& f : t.figures) {
    out << "  " << f.name << ": " << st.bold(f.display) << '\n';
    paragraph(out, f.basis, w, 6, 6, st, &Style::dim);
  }
  if (!t.facts.empty()) out << '\n' << st.bold("Facts") << '\n';
  for (const auto& f : t.facts) {
    std::string text = wrap_text(f.text, w, 4, 4);
    text.replace(0, 4, "  * ");
    out << text << '\n';
    paragraph(out, "[" + f.source + "]", w, 4, 5, st, &Style::dim);
  }
  if (!t.myths.empty()) out << '\n' << st.bold("Myths corrected") << '\n';
  for (const auto& m : t.myths) {
    std::string myth = wrap_text(m.myth, w, 9, 9);
    myth.replace(0, 9, "  " + st.myth("Myth:") + "  ");
    out << myth << '\n';
    std::string truth = wrap_text(m.truth, w, 9, 9);
    truth.replace(0, 9, "  " + st.truth("Truth:") + " ");
    out << truth << '\n';
    paragraph(out, "[" + m.source + "]", w, 9, 10, st, &Style::dim);
  }
}

} // namespace

void render_explain_topics(std::ostream& out,
                           const core::KernelSettings& k,
                           const std::vector<analyze::Topic>& topics,
                           const ExplainTextOptions& opt) {
  const Style st{opt.color};
  render_header(out, k, st);
  for (std::size_t i = 0; i < topics.size(); ++i) {
    if (i > 0) out << '\n';
    render_topic(out, topics[i], opt, st);
  }
}

void render_explain_overview(std::ostream& out,
                             const core::KernelSettings& k,
                             const std::vector<analyze::Topic>& topics,
                             const ExplainTextOptions& opt) {
  const Style st{opt.color};
  render_header(out, k, st);
  for (const auto& t : topics) {
    out << st.bold(t.title) << "  " << st.dim("sockdoctor explain " + t.id) << '\n';
    paragraph(out, t.summary, opt.width, 2, 2, st);
    for (const auto& f : t.figures)
      paragraph(out, f.name + ": " + f.display, opt.width, 4, 6, st);
    std::string values;
    for (const auto& s : t.settings) {
      if (!values.empty()) values += "  ";
      std::string v = s.present ? value_text(s) : "absent";
      std::replace(v.begin(), v.end(), ' ', '-'); // "32768 60999" must not wrap apart
      std::replace(v.begin(), v.end(), '\t', '-');
      values += short_name(s.name) + "=" + v;
    }
    if (!values.empty()) paragraph(out, values, opt.width, 4, 4, st, &Style::dim);
    // The seed articles' myths are named with their one-line correction; the rest are counted.
    std::size_t others = 0;
    for (const auto& m : t.myths) {
      if (!m.seed || m.correction.empty()) {
        ++others;
        continue;
      }
      std::string myth = wrap_text(m.myth, opt.width, 11, 11);
      myth.replace(0, 11, "    " + st.myth("Myth:") + "  ");
      std::string truth = wrap_text(m.correction, opt.width, 11, 11);
      truth.replace(0, 11, "    " + st.truth("Truth:") + " ");
      out << myth << '\n' << truth << '\n';
    }
    if (others > 0)
      paragraph(out,
                std::to_string(others) + (others == 1 ? " more myth" : " more myths") +
                    " corrected: sockdoctor explain " + t.id,
                opt.width, 4, 6, st, &Style::dim);
    out << '\n';
  }
}

} // namespace sockdoctor::render
