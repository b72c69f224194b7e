// A workload (systemd unit, container, pod) as labelled text lines and as a JSON object; both
// from raw names, escaped on the way out (cgroup names can be chosen by unprivileged users).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/workload.hpp"
#include "render/json_writer.hpp"

namespace sockdoctor::render {

// ("unit", "nginx.service"), ("container", "3f2a9c1b7d3e… (containerd)"),
// ("pod", "shop/cart-7d9 (container api)"): raw text for a labelled, escaping writer.
std::vector<std::pair<std::string, std::string>> workload_lines(const core::Workload& w);

// {"unit","container_id","runtime","pod_uid","pod_name","pod_namespace","container_name"}, each a
// string or null when unknown.
void write_workload_json(JsonWriter& w, const core::Workload& workload);

} // namespace sockdoctor::render
