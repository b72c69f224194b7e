// What the exporter cannot see with the privileges it has: said once at start (stderr), on the
// landing page, and as sockdoctor_capability_missing{what} series. Never a reason to exit.
#pragma once

#include <string>
#include <vector>

namespace sockdoctor::serve {

struct MissingPrivileges {
  std::vector<std::string> ids;   // "all_netns", "owners_of_other_users" (metric label values)
  std::vector<std::string> lines; // one sentence each, for people
  bool all_netns_allowed = true;  // setns into other namespaces is possible
};

// `want_all_netns`: the exporter would watch every namespace if it could.
MissingPrivileges missing_privileges(bool want_all_netns);

} // namespace sockdoctor::serve
