// Which capabilities this process lacks, so a denied read can name what is missing rather than
// guess ("another user namespace") when root runs with capabilities dropped.
#pragma once

#include <string>

namespace sockdoctor::collect {

// Whether this process has capability `cap` (CAP_* from <linux/capability.h>) in its effective
// set (capget); false when it cannot be read.
bool has_effective_capability(unsigned cap);

// What reading another user's /proc/PID/fd needs and this process lacks: "CAP_SYS_PTRACE"
// (readlink of each fd, ptrace_may_access), "CAP_DAC_READ_SEARCH" (listing the fd directory; or
// CAP_DAC_OVERRIDE), both joined by " and ", or "" when nothing is missing.
std::string missing_owner_capabilities();

} // namespace sockdoctor::collect
