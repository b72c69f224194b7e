// What the exporter cannot see with the capabilities it has (collect/privileges reads them).
#include "serve/privileges.hpp"

#include <linux/capability.h>

#include <fmt/format.h>

#include "collect/privileges.hpp"
#include "render/escape.hpp"
#include "render/prometheus.hpp"

namespace sockdoctor::serve {

MissingPrivileges missing_privileges(bool want_all_netns) {
  MissingPrivileges m;
  m.all_netns_allowed = collect::has_effective_capability(CAP_SYS_ADMIN);
  if (want_all_netns && !m.all_netns_allowed) {
    m.ids.push_back("all_netns");
    m.lines.push_back("other network namespaces (entering them needs CAP_SYS_ADMIN): only its "
                      "own is watched");
  }
  if (!collect::missing_owner_capabilities().empty()) {
    m.ids.push_back("owners_of_other_users");
    m.lines.push_back("the processes of other users that hold sockets (needs CAP_SYS_PTRACE and "
                      "CAP_DAC_READ_SEARCH, or root): their sockets are counted, not named");
  }
  return m;
}

void choose_scope(ExporterOptions& e, const std::vector<std::string>& netns, bool replay) {
  auto& s = e.scraper;
  const bool want_all = netns.empty() && !replay;
  const auto missing = missing_privileges(want_all);
  s.info.missing = missing.ids;
  e.missing_lines = missing.lines;
  for (const auto& line : missing.lines)
    render::write_notice(*e.err, "sockdoctor serve: ", "cannot see " + line);
  if (!netns.empty()) {
    s.sampler.scope = collect::NetnsScope::Listed;
    s.sampler.netns = netns;
    for (const auto& n : netns)
      e.scope_lines.push_back("network namespace " + n);
  } else if (want_all && missing.all_netns_allowed) {
    s.sampler.scope = collect::NetnsScope::All;
    e.scope_lines.push_back("every network namespace (/run/netns and those of processes)");
  } else {
    s.sampler.scope = collect::NetnsScope::Own;
    e.scope_lines.push_back("its own network namespace");
  }
  e.scope_lines.push_back(fmt::format("at most {} series (--top-holders {}, --top-destinations "
                                      "{}, --max-netns {})",
                                      render::worst_case_series(s.limits, s.info.missing.size()),
                                      s.limits.holders, s.limits.destinations,
                                      s.limits.namespaces));
}

} // namespace sockdoctor::serve
