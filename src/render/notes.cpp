// Texts of the stderr notices.
#include "render/notes.hpp"

#include <fmt/format.h>

#include "render/escape.hpp"

namespace sockdoctor::render {

std::string hidden_owners_note(std::uint32_t denied, bool root, std::string_view lacking) {
  const char* es = denied == 1 ? "" : "es";
  if (lacking.empty())
    return fmt::format("the open files of {} process{} could not be read (another user namespace "
                       "or a security module); their sockets are shown without owners",
                       denied, es);
  if (root)
    return fmt::format("the open files of {} process{} could not be read: this process lacks {} "
                       "(root with capabilities dropped); their sockets are shown without owners",
                       denied, es, lacking);
  return fmt::format("owners of sockets held by {} other user{} processes are not shown (run as "
                     "root to see them)",
                     denied, denied == 1 ? "'s" : "s'");
}

std::string notice_line(std::string_view text) {
  return "sockdoctor: " + escape_for_terminal(text);
}

} // namespace sockdoctor::render
