// Effective capabilities through capget(2) (see privileges.hpp).
#include "collect/privileges.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sockdoctor::collect {
bool has_effective_capability(unsigned cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (cap >= 64 || ::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

std::string missing_owner_capabilities() {
  std::string out;
  if (!has_effective_capability(CAP_SYS_PTRACE)) out = "CAP_SYS_PTRACE";
  if (!has_effective_capability(CAP_DAC_READ_SEARCH) && !has_effective_capability(CAP_DAC_OVERRIDE))
    out += out.empty() ? "CAP_DAC_READ_SEARCH" : " and CAP_DAC_READ_SEARCH";
  return out;
}

} // namespace sockdoctor::collect
