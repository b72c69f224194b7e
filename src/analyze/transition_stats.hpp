// `sockdoctor trace`: which transitions to show, and the summary on exit (count and duration
// percentiles per state pair).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/traced_socket.hpp"

namespace sockdoctor::analyze {

struct TransitionFilter {
  std::uint32_t state_mask = ~0u;   // old or new state in the mask (CLOSE included)
  std::vector<std::uint16_t> ports; // local or peer port
  std::vector<std::int32_t> pids;   // owner pid
  std::vector<std::string> comms;   // owner comm, exact match
  std::optional<std::uint32_t> netns_ino;

  bool matches(const core::SocketTransition& t) const;
};

struct DurationSummary {
  std::uint64_t samples = 0; // transitions whose time in the old state is known
  std::uint64_t p50_ns = 0;
  std::uint64_t p90_ns = 0;
  std::uint64_t p99_ns = 0;
  std::uint64_t max_ns = 0;
};

struct PairSummary {
  core::TcpState from = core::TcpState::Unknown;
  core::TcpState to = core::TcpState::Unknown;
  core::TransitionKind kind = core::TransitionKind::State;
  std::uint64_t count = 0;
  DurationSummary in_from; // time spent in `from` before the transition
};

// Accumulates transitions. Durations are kept exactly up to kMaxSamples per pair, then by
// reservoir sampling, so memory stays bounded however long `trace` runs.
class TransitionStats {
public:
  static constexpr std::size_t kMaxSamples = 65536;

  void add(const core::SocketTransition& t);
  std::uint64_t total() const { return total_; }
  // Most frequent first; ties in state order.
  std::vector<PairSummary> summary() const;

private:
  struct Pair {
    std::uint64_t count = 0;
    std::uint64_t timed = 0; // durations offered to the reservoir
    std::uint64_t max_ns = 0;
    std::vector<std::uint64_t> samples;
  };
  using Key = std::tuple<std::uint8_t, std::uint8_t, std::uint8_t>; // from, to, kind
  std::map<Key, Pair> pairs_;
  std::uint64_t total_ = 0;
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
};

// Nearest-rank percentile (0 < p <= 100) of sorted values; 0 for none.
std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double p);

} // namespace sockdoctor::analyze
