// One-line notices for stderr: what a sample could not see, escaped like every terminal write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sockdoctor::render {

// "the open files of 2 processes could not be read (...)" for root, "owners of sockets held by
// 3 other users' processes are not shown (run as root to see them)" otherwise.
std::string hidden_owners_note(std::uint32_t denied, bool root);

// "sockdoctor: <text>" with text escaped for a terminal (it may carry paths, process names and
// kernel messages), for a status line; to write one to a stream, render::write_notice.
std::string notice_line(std::string_view text);

} // namespace sockdoctor::render
