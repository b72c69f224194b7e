// What `sockdoctor kill` would destroy: kill's selection rules over the host model (LISTEN only
// when named, --older-than from the socket ages), as a list of rows. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyze/host_model.hpp"
#include "analyze/socket_filter.hpp"
#include "core/error.hpp"

namespace sockdoctor::analyze {

struct KillSelection {
  SocketFilter filter;                      // its state mask never holds LISTEN unless named
  std::optional<double> older_than_seconds; // --older-than
  bool listen_named = false;                // a --state word was "listen" itself
};

// "90", "90s", "5m", "2h", "1d", "1h30m", "1.5h" -> seconds; nullopt if malformed or negative.
std::optional<double> parse_duration(std::string_view text);

// kill's selection from the typed filter. Refuses an empty selection (no flag at all would mean
// every socket on the host). Without --state: every state but LISTEN; a group that contains
// LISTEN ("all") does not count as naming it.
core::Result<KillSelection> build_kill_selection(const FilterArgs& args,
                                                 const std::string& older_than);

struct KillPlan {
  std::vector<std::uint32_t> rows; // indices into the snapshot's sockets, in snapshot order
  std::uint32_t age_unknown = 0;   // matched everything but --older-than had no age to test
  std::uint32_t too_young = 0;     // matched everything but were younger (or only a lower
                                   // bound below the limit was known)
};

// The sockets to destroy: the filter, then the age test. An age that is only a lower bound
// counts when the bound already reaches the limit; an unknown age never does.
KillPlan plan_kill(const HostModel& model, const KillSelection& sel);

} // namespace sockdoctor::analyze
