// Trace filtering and the per-pair summary (bounded reservoir of durations).
#include "analyze/transition_stats.hpp"

#include <algorithm>
#include <cmath>

namespace sockdoctor::analyze {

bool TransitionFilter::matches(const core::SocketTransition& t) const {
  if ((state_mask & (core::state_bit(t.old_state) | core::state_bit(t.new_state))) == 0)
    return false;
  if (!ports.empty() && std::find(ports.begin(), ports.end(), t.local.port) == ports.end() &&
      std::find(ports.begin(), ports.end(), t.peer.port) == ports.end())
    return false;
  if (!pids.empty() && std::find(pids.begin(), pids.end(), t.owner.pid) == pids.end()) return false;
  if (!comms.empty() && std::find(comms.begin(), comms.end(), t.owner.comm) == comms.end())
    return false;
  if (netns_ino && *netns_ino != t.netns_ino) return false;
  return true;
}

void TransitionStats::add(const core::SocketTransition& t) {
  ++total_;
  Pair& p = pairs_[{static_cast<std::uint8_t>(t.old_state), static_cast<std::uint8_t>(t.new_state),
                    static_cast<std::uint8_t>(t.kind)}];
  ++p.count;
  if (!t.in_old_state_ns) return;
  const std::uint64_t d = *t.in_old_state_ns;
  p.max_ns = std::max(p.max_ns, d);
  ++p.timed;
  if (p.samples.size() < kMaxSamples) {
    p.samples.push_back(d);
    return;
  }
  // Reservoir: keep each of the first `timed` durations with probability kMaxSamples/timed.
  rng_ = rng_ * 6364136223846793005ULL + 1442695040888963407ULL;
  const std::uint64_t slot = (rng_ >> 11) % p.timed;
  if (slot < kMaxSamples) p.samples[slot] = d;
}

std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const auto idx = static_cast<std::size_t>(std::clamp(rank, 1.0, double(sorted.size()))) - 1;
  return sorted[idx];
}

std::vector<PairSummary> TransitionStats::summary() const {
  std::vector<PairSummary> out;
  out.reserve(pairs_.size());
  for (const auto& [key, p] : pairs_) {
    PairSummary s;
    s.from = static_cast<core::TcpState>(std::get<0>(key));
    s.to = static_cast<core::TcpState>(std::get<1>(key));
    s.kind = static_cast<core::TransitionKind>(std::get<2>(key));
    s.count = p.count;
    std::vector<std::uint64_t> sorted = p.samples;
    std::sort(sorted.begin(), sorted.end());
    s.in_from.samples = p.timed;
    s.in_from.p50_ns = percentile(sorted, 50);
    s.in_from.p90_ns = percentile(sorted, 90);
    s.in_from.p99_ns = percentile(sorted, 99);
    s.in_from.max_ns = p.max_ns;
    out.push_back(s);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const PairSummary& a, const PairSummary& b) { return a.count > b.count; });
  return out;
}

} // namespace sockdoctor::analyze
