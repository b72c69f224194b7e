// What the exporter cannot see with the capabilities it has (collect/privileges reads them).
#include "serve/privileges.hpp"

#include <linux/capability.h>

#include "collect/privileges.hpp"

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

} // namespace sockdoctor::serve
