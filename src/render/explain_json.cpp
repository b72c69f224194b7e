// JSON rendering of `sockdoctor explain --json`: the same topics the text renderer shows.
#include "render/explain_json.hpp"

#include <ostream>

#include <nlohmann/json.hpp>

namespace sockdoctor::render {
namespace {

// ordered_json keeps schema_version first and fields in the documented order.
using json = nlohmann::ordered_json;

json setting_json(const analyze::SettingInfo& s) {
  json value = nullptr;
  if (s.present) value = s.number ? json(*s.number) : json(s.value_text);
  return {{"name", s.name}, {"value", value}, {"meaning", s.meaning}};
}

json figure_json(const analyze::Figure& f) {
  return {{"id", f.id},
          {"name", f.name},
          {"value", f.value ? json(*f.value) : json(nullptr)},
          {"unit", f.unit},
          {"basis", f.basis}};
}

json topic_json(const analyze::Topic& t) {
  json j = {{"id", t.id}, {"title", t.title}, {"summary", t.summary}};
  j["settings"] = json::array();
  for (const auto& s : t.settings)
    j["settings"].push_back(setting_json(s));
  j["figures"] = json::array();
  for (const auto& f : t.figures)
    j["figures"].push_back(figure_json(f));
  j["facts"] = json::array();
  for (const auto& f : t.facts)
    j["facts"].push_back({{"text", f.text}, {"source", f.source}});
  j["myths"] = json::array();
  for (const auto& m : t.myths)
    j["myths"].push_back({{"myth", m.myth}, {"truth", m.truth}, {"source", m.source}});
  return j;
}

} // namespace

void render_explain_json(std::ostream& out,
                         const core::KernelSettings& k,
                         const std::vector<analyze::Topic>& topics) {
  json doc = {{"schema_version", 1}};
  doc["kernel"] = {{"release", k.kernel_release},
                   {"major", k.kernel_major > 0 ? json(k.kernel_major) : json(nullptr)},
                   {"minor", k.kernel_major > 0 ? json(k.kernel_minor) : json(nullptr)}};
  doc["topics"] = json::array();
  for (const auto& t : topics)
    doc["topics"].push_back(topic_json(t));
  // A recorded osrelease may hold any bytes: replace invalid UTF-8 instead of throwing.
  out << doc.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
}

} // namespace sockdoctor::render
