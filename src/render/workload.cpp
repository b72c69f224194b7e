// Workload lines for check and the workload object of check --json and ls --json.
#include "render/workload.hpp"

#include "core/workload_decode.hpp"

namespace sockdoctor::render {

std::vector<std::pair<std::string, std::string>> workload_lines(const core::Workload& w) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!w.unit.empty()) out.emplace_back("unit", w.unit);
  if (!w.container_id.empty()) {
    std::string c = core::short_container_id(w.container_id);
    if (c.size() < w.container_id.size()) c += "\u2026";
    if (!w.runtime.empty()) c += " (" + w.runtime + ")";
    out.emplace_back("container", std::move(c));
  }
  if (!w.pod_uid.empty()) {
    std::string p = w.pod_name.empty() ? "uid " + w.pod_uid : w.pod_namespace + "/" + w.pod_name;
    if (!w.container_name.empty()) p += " (container " + w.container_name + ")";
    out.emplace_back("pod", std::move(p));
  }
  return out;
}

void write_workload_json(JsonWriter& w, const core::Workload& workload) {
  auto field = [&w](JsonKey key, const std::string& value) {
    w.key(key);
    value.empty() ? w.null() : w.string(value);
  };
  w.begin_object();
  field("unit", workload.unit);
  field("container_id", workload.container_id);
  field("runtime", workload.runtime);
  field("pod_uid", workload.pod_uid);
  field("pod_name", workload.pod_name);
  field("pod_namespace", workload.pod_namespace);
  field("container_name", workload.container_name);
  w.end_object();
}

} // namespace sockdoctor::render
