// One-line notices for stderr: what a sample could not see, escaped like every terminal write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/sample.hpp"

namespace sockdoctor::render {

// "owners of sockets held by 3 other users' processes are not shown (run as root to see them)"
// when not root and lacking capabilities; for root, the capabilities it lacks (`lacking`, e.g.
// "CAP_SYS_PTRACE": root with capabilities dropped) or, lacking none, "another user namespace or
// a security module".
std::string hidden_owners_note(std::uint32_t denied, bool root, std::string_view lacking);

// "sockdoctor: <text>" with text escaped for a terminal (it may carry paths, process names and
// kernel messages), for a status line; to write one to a stream, render::write_notice.
std::string notice_line(std::string_view text);

// The notice lines a sample carries for stderr: the hidden-owners line (unless quiet_owners;
// `root`: the process runs as uid 0) and, with verbose > 0, the collectors' notes. The kernel
// collector's are left to the commands that use the settings.
std::vector<std::string>
sample_note_lines(const core::Sample& sample, int verbose, bool quiet_owners, bool root);

} // namespace sockdoctor::render
