// Effective capabilities of the exporter, read once at start (capget).
#include "serve/privileges.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sockdoctor::serve {
namespace {

constexpr unsigned kCapDacReadSearch = 2;
constexpr unsigned kCapSysPtrace = 19;
constexpr unsigned kCapSysAdmin = 21;

bool has_effective_cap(unsigned cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

} // namespace

MissingPrivileges missing_privileges(bool want_all_netns) {
  MissingPrivileges m;
  m.all_netns_allowed = has_effective_cap(kCapSysAdmin);
  if (want_all_netns && !m.all_netns_allowed) {
    m.ids.push_back("all_netns");
    m.lines.push_back("other network namespaces (entering them needs CAP_SYS_ADMIN): only its "
                      "own is watched");
  }
  if (!has_effective_cap(kCapSysPtrace) || !has_effective_cap(kCapDacReadSearch)) {
    m.ids.push_back("owners_of_other_users");
    m.lines.push_back("the processes of other users that hold sockets (needs CAP_SYS_PTRACE and "
                      "CAP_DAC_READ_SEARCH, or root): their sockets are counted, not named");
  }
  return m;
}

} // namespace sockdoctor::serve
