// JSON rendering of `sockdoctor explain --json` (schema_version 1).
#pragma once

#include <iosfwd>
#include <vector>

#include "analyze/knowledge.hpp"
#include "core/kernel_settings.hpp"

namespace sockdoctor::render {

// {"schema_version":1,"kernel":{"release":..,"major":..,"minor":..},
//  "topics":[{"id","title","summary",
//             "settings":[{"name","value","meaning"}],   value: number, string, or null (absent)
//             "figures":[{"id","name","value","unit","basis"}],  value: number, or null (no bound)
//             "facts":[{"text","source"}], "myths":[{"myth","truth","source"}]}]}
void render_explain_json(std::ostream& out,
                         const core::KernelSettings& k,
                         const std::vector<analyze::Topic>& topics);

} // namespace sockdoctor::render
