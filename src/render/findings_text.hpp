// Renders a diagnosis for people: a short OK line when healthy, else findings, most severe first.
#pragma once

#include <iosfwd>

#include "analyze/findings.hpp"

namespace sockdoctor::render {

struct FindingsTextOptions {
  bool color = false; // ANSI colours for severities (the caller honours NO_COLOR)
  int width = 80;     // wrap prose to this many columns
};

// Every string of a finding may carry process names or command lines (attacker-controlled), so
// all of it is escaped for the terminal before it is written.
void render_findings_text(std::ostream& out,
                          const analyze::Diagnosis& d,
                          const FindingsTextOptions& opt = {});

} // namespace sockdoctor::render
