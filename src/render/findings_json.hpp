// Renders a diagnosis as JSON: {"schema_version":1,"findings":[...],"summary":{...}}.
#pragma once

#include <iosfwd>

#include "analyze/findings.hpp"

namespace sockdoctor::render {

// Strings that are not valid UTF-8 (process names can be anything) carry \xNN text instead of
// the bad bytes, so the document is always valid UTF-8 JSON.
void render_findings_json(std::ostream& out, const analyze::Diagnosis& d);

class JsonWriter;
// The "findings" and "summary" members, into an object the caller has open (lab's report
// embeds a diagnosis per step).
void write_diagnosis_members(JsonWriter& w, const analyze::Diagnosis& d);

} // namespace sockdoctor::render
