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

std::vector<std::string>
sample_note_lines(const core::Sample& sample, int verbose, bool quiet_owners, bool root) {
  std::vector<std::string> lines;
  for (const auto& c : sample.collectors) {
    if (c.name == "kernel") continue; // commands that use the settings say what they assumed
    if (c.name == "owners" && c.denied > 0 && !quiet_owners)
      lines.push_back(
          notice_line(hidden_owners_note(c.denied, root, sample.snapshot.owners.denied_lacking)));
    if (verbose > 0)
      for (const auto& note : c.notes)
        lines.push_back(notice_line(note));
  }
  return lines;
}

} // namespace sockdoctor::render
