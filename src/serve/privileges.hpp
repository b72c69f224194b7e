// What the exporter cannot see with the privileges it has: said once at start (stderr), on the
// landing page, and as sockdoctor_capability_missing{what} series. Never a reason to exit.
#pragma once

#include <string>
#include <vector>

#include "serve/exporter.hpp"

namespace sockdoctor::serve {

struct MissingPrivileges {
  std::vector<std::string> ids;   // "all_netns", "owners_of_other_users" (metric label values)
  std::vector<std::string> lines; // one sentence each, for people
  bool all_netns_allowed = true;  // setns into other namespaces is possible
};

// `want_all_netns`: the exporter would watch every namespace if it could.
MissingPrivileges missing_privileges(bool want_all_netns);

// Chooses what e watches: the `netns` listed, else every namespace when permitted (and not a
// replay), else its own; says on e.err once what it cannot see, and fills the landing page's
// lines (scope, series bound, missing privileges) and the missing-capability series.
void choose_scope(ExporterOptions& e, const std::vector<std::string>& netns, bool replay);

} // namespace sockdoctor::serve
