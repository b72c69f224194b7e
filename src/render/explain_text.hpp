// Text rendering of `sockdoctor explain`: one topic in full, or the compact overview of all.
#pragma once

#include <iosfwd>
#include <vector>

#include "analyze/knowledge.hpp"
#include "core/kernel_settings.hpp"

namespace sockdoctor::render {

struct ExplainTextOptions {
  bool color = false; // ANSI colours (the caller decides: tty and NO_COLOR)
  int width = 80;     // wrap column
};

// Every topic in full: settings with meanings, figures with their basis, cited facts, myths.
void render_explain_topics(std::ostream& out,
                           const core::KernelSettings& k,
                           const std::vector<analyze::Topic>& topics,
                           const ExplainTextOptions& opt);

// `sockdoctor explain` without a topic: per topic its summary, figures and sysctl values on a
// few lines, each myth of the seed articles with its one-line correction, and where to read more.
void render_explain_overview(std::ostream& out,
                             const core::KernelSettings& k,
                             const std::vector<analyze::Topic>& topics,
                             const ExplainTextOptions& opt);

} // namespace sockdoctor::render
