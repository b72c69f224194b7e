// Takes `top`'s samples at a bounded CPU cost: complete samples (every socket, owners) when cheap,
// else every Nth interval, with kernel-filtered dumps and kernel counters in between.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "collect/sampler.hpp"
#include "core/sample.hpp"

namespace sockdoctor::collect {

struct LiveSamplerOptions {
  double interval_seconds = 1;
  bool owners = true;
  // Share of one core that complete samples may use on average; sets how often they run. The
  // light samples in between cost their kernel walk of the whole hash table (about 2.5 % of a
  // core at 100k sockets and 1 s): 2 % keeps the whole view under 5 % (docs/performance.md).
  double detail_cpu_share = 0.02;
  int max_detail_every = 30;  // intervals; bounds how stale the TIME_WAIT sections may get
  int fixed_detail_every = 0; // > 0: this cadence, not adaptive (tests, benchmarks)
  // Between full owner scans, new CLOSE_WAIT / FIN_WAIT2 sockets are looked up in the fds of
  // the processes that held such sockets at the last scan, while those hold at most this many.
  std::uint64_t targeted_fd_budget = 8192;
};

// The big states: on a busy host these hold almost every socket. Between complete samples they
// are counted by /proc/net/snmp CurrEstab (ESTABLISHED + CLOSE_WAIT) and /proc/net/sockstat tw
// (TIME_WAIT + FIN_WAIT2 mini-sockets) instead of being listed.
inline constexpr std::uint32_t kCountedStates =
    core::state_bit(core::TcpState::Established) | core::state_bit(core::TcpState::TimeWait);

// Per-state counts from the listed sockets, plus ESTABLISHED and TIME_WAIT from the counters
// when those states were not listed. Pure; unit-tested.
core::StateCounts light_counts(const std::vector<core::TcpSocket>& sockets,
                               std::uint64_t curr_estab,
                               std::uint64_t sockstat_tw);

class LiveSampler {
public:
  LiveSampler(SamplerOptions sampler, LiveSamplerOptions opts);

  // The next sample; a complete one when due or when light samples are impossible here.
  core::Result<core::Sample> next();
  // CPU seconds the last sample cost, including what the caller did with it (model update):
  // sets the complete-sample cadence.
  void record_cost(bool complete, double cpu_seconds);

  int detail_every() const { return detail_every_; }
  bool light_possible() const { return light_possible_; }

private:
  core::Result<core::Sample> complete_sample();
  core::Result<core::Sample> light_sample();
  void learn_holders(const core::Snapshot& snap);
  bool has_unknown_holders(const core::Snapshot& snap);

  Sampler sampler_;
  LiveSamplerOptions opts_;
  bool light_possible_ = false;
  int detail_every_ = 1;
  int since_detail_ = 0;
  bool v6_seen_ = true; // the last complete sample listed IPv6 sockets (other than TIME_WAIT)
  std::vector<core::ProcessInfo> holders_;      // held CLOSE_WAIT / FIN_WAIT2 at the last scan
  std::uint64_t holder_fds_ = 0;                // their open fds then
  std::unordered_set<std::uint32_t> looked_up_; // CLOSE_WAIT / FIN_WAIT2 inodes already sought
};

// CPU time of this process so far (user + system, all threads), in seconds.
double process_cpu_seconds();

} // namespace sockdoctor::collect
