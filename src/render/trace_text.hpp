// `sockdoctor trace` as text: one line per transition, and the summary on exit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyze/transition_stats.hpp"
#include "core/traced_socket.hpp"

namespace sockdoctor::render {

// Everything the exit summary says (text and JSON): the pairs, and what was lost.
struct TraceSummaryView {
  std::vector<analyze::PairSummary> pairs;
  std::uint64_t received = 0; // transitions read from the ring
  std::uint64_t shown = 0;    // of which matched the filters
  double seconds = 0;         // how long the trace ran
  core::RegisterCounters counters;
  std::optional<std::uint64_t> live_entries; // entries at exit (nullopt: could not count)
  std::uint32_t capacity = 0;
  std::uint64_t malformed = 0; // ring records that did not decode
  bool time_wait_traced = false;
};

// "812us", "12.3ms", "1.204s", "59.000s", "4m10s", "2h03m": sub-second precision where it
// matters, the register measures nanoseconds.
std::string format_trace_duration(std::uint64_t ns);

// State names for transitions: ss names, and CLOSE (not ss's "UNCONN") for the end.
std::string_view trace_state_name(core::TcpState s);

// The column header and one row ('\n'-terminated). Times are local wall-clock time; comm is
// escaped. Columns: TIME NETNS LOCAL PEER TRANSITION IN-OLD OWNER.
std::string format_trace_header();
std::string format_trace_row(const core::SocketTransition& t, const core::RegisterInfo& info);

// The exit summary: one line of totals and losses, then one line per state pair.
std::string format_trace_summary(const TraceSummaryView& v);

} // namespace sockdoctor::render
