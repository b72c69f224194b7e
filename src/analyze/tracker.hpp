// Follows sockets across live samples by cookie: first-seen times, per-state history, and whether
// a growing CLOSE_WAIT set is a leak (old sockets stay, new ones pile up) or churn (turnover).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analyze/age.hpp"
#include "analyze/socket_knowledge.hpp"
#include "core/address.hpp"
#include "core/kernel_settings.hpp"
#include "core/sample.hpp"
#include "core/snapshot.hpp"
#include "core/tcp_state.hpp"

namespace sockdoctor::analyze {

using Clock = std::chrono::system_clock;
using StateCounts = core::StateCounts; // indexed by TcpState

struct TrackerOptions {
  std::size_t history_samples = 600; // per-state counts kept for sparklines and rates
  double trend_window_seconds = 60;  // leak / churn is judged over this much history
  double min_trend_seconds = 3;      // less history than this: "warming up"
  std::size_t min_trend_samples = 3; // (both limits must be reached)
  double long_lived_seconds = 60;    // a CLOSE_WAIT socket older than this counts as long-lived
  double leak_retention = 0.9;       // leak: at least this share of the window-start set stays
  std::uint64_t leak_min_growth = 2; // leak: and at least this many more sockets than then
  double churn_turnover = 0.5;       // churn: departures >= this share of the mean count
};

enum class TrendKind : std::uint8_t {
  WarmingUp, // not enough history yet
  Stable,    // neither growing nor turning over
  Leak,      // growing, and the sockets present at the window start are still there
  Churn,     // many sockets come and go; the count is steady or fluctuates
  Draining,  // shrinking, nothing new
};

// "warming_up", "stable", "leak", "churn", "draining".
std::string_view trend_name(TrendKind k);

// How a set of CLOSE_WAIT sockets (one process's, one peer's, or all) moved over the window.
struct Trend {
  std::uint64_t count = 0;      // now
  std::uint64_t long_lived = 0; // now, older than TrackerOptions::long_lived_seconds
  double growth_per_min = 0;    // least-squares slope of the count over the window
  double arrivals_per_min = 0;  // sockets that entered the set
  double departures_per_min = 0;
  double retained = 1; // of the sockets present at the window start, the share still present
  double window_seconds = 0;
  TrendKind kind = TrendKind::WarmingUp;
};

// Per-state counts of one sample. `covered` states were listed socket by socket, so their
// appeared / departed counts are known; the others came from kernel counters (or are carried).
struct StateSample {
  Clock::time_point time{};
  StateCounts counts{};
  StateCounts appeared{}; // sockets new in this state since the last sample covering it
  StateCounts departed{}; // sockets that left this state (closed, or moved on)
  std::uint32_t covered = 0;
};

struct GroupTrend {
  std::int32_t pid = kOwnerPending; // process groups
  std::string comm;                 // raw
  core::IpAddress peer;             // peer groups
  std::uint32_t netns = 0;
  Trend trend;
  // Age of its oldest socket: time since first seen, plus the last-ACK age it had then. A lower
  // bound: the set's sockets may be older than what tcp_info or this view has seen.
  std::optional<double> oldest_age_s;
};

// Sockets without a cookie (/proc/net/tcp) are identified by netns and 4-tuple instead (the
// top bit is set, so the two key spaces never meet).
std::uint64_t socket_identity(const core::TcpSocket& s);

class SocketTracker : public SocketKnowledge {
public:
  explicit SocketTracker(TrackerOptions opts = {});

  // Adds one sample. `snap.sockets` must list every socket of the `covered` states (others may be
  // present and are ignored); sockets of other states keep what was last learned about them.
  // `counts` are this sample's per-state counts (including states outside `covered`). When
  // `snap.owners.scanned`, owners are (re)attributed from it; otherwise earlier attributions stay
  // and sockets new since the last owner scan are kOwnerPending. `owners_partial`: the table
  // covers a few processes only, so sockets it does not name keep what was known about them.
  void update(const core::Snapshot& snap,
              std::uint32_t covered,
              const StateCounts& counts,
              bool owners_partial = false);

  // Time of the last update.
  Clock::time_point now() const { return now_; }
  std::size_t samples() const { return samples_; }
  std::size_t tracked() const { return entries_.size(); }

  // When s was first seen in its current state; nullopt if never seen in it.
  std::optional<Clock::time_point> first_seen(const core::TcpSocket& s) const;
  // estimate_age() combined with the first-seen age (plus the last-ACK age the socket had when
  // first seen, so later samples need no tcp_info): the larger of the two lower bounds. First
  // seen is exact to one interval for sockets that entered the state after the first sample.
  Age age(const core::TcpSocket& s, const core::KernelSettings& k) const override;
  // Last known owner of s: a pid, kOwnerPending or kNoOwner.
  std::int32_t owner(const core::TcpSocket& s) const override;
  // Last process seen holding s (0 if none): a TIME_WAIT socket keeps the cookie of the
  // connection it was, so this names the process that closed it, if it was ever seen alive.
  std::int32_t last_holder(const core::TcpSocket& s) const override;

  // Details of a pid from the last owner scan that saw it; nullptr if unknown.
  const core::ProcessInfo* process(std::int32_t pid) const override;
  bool owners_ever_scanned() const { return owners_scanned_at_.has_value(); }
  std::optional<Clock::time_point> owners_scanned_at() const { return owners_scanned_at_; }

  const std::deque<StateSample>& history() const { return history_; }
  // Change of a state's count per second over about the last `over` seconds (0 without history).
  double rate_per_second(core::TcpState s, double over_seconds) const;

  // CLOSE_WAIT trends: every socket, and per owning process and per peer address, largest first.
  const Trend& close_wait() const { return total_.trend; }
  std::vector<GroupTrend> close_wait_by_process() const;
  std::vector<GroupTrend> close_wait_by_peer() const;

  const TrackerOptions& options() const { return opts_; }

private:
  struct PeerKey {
    std::uint32_t netns = 0;
    core::IpAddress addr;
    friend bool operator==(const PeerKey&, const PeerKey&) = default;
  };
  struct PeerHash {
    std::size_t operator()(const PeerKey& k) const;
  };
  struct Entry {
    Clock::time_point first_seen{};
    float age_base = 0; // seconds already in the state when first seen (tcpi_last_ack_recv)
    PeerKey peer;
    std::int32_t pid = kOwnerPending; // owner as of the last owner scan
    std::int32_t last_holder = 0;     // last process seen holding it (kept into TIME_WAIT)
    std::uint32_t generation = 0;
    core::TcpState state = core::TcpState::Unknown;
    bool at_start = false; // already in this state when the state was first sampled
  };
  struct Point {
    Clock::time_point time{};
    std::uint64_t count = 0, arrivals = 0, departures = 0;
  };
  // One set of CLOSE_WAIT sockets followed over time.
  struct Series {
    std::deque<Point> points;
    std::uint64_t count = 0, arrivals = 0, departures = 0, survivors = 0, long_lived = 0;
    std::optional<double> oldest_age; // seconds
    std::optional<Clock::time_point> last_nonzero;
    Trend trend;
    void begin_sample(Clock::time_point now, double window);
    void finish_sample(Clock::time_point now, const TrackerOptions& o);
  };
  void begin_series(Clock::time_point now);
  void finish_series(Clock::time_point now);
  void observe(const core::TcpSocket& s,
               const core::Snapshot& snap,
               std::uint32_t first_time_states,
               StateSample& sample);
  std::int32_t
  observed_owner(const core::TcpSocket& s, const core::Snapshot& snap, const Entry* known) const;
  void count_close_wait(const core::TcpSocket& s, const Entry& e);
  void arrive(std::int32_t pid, const PeerKey& peer);
  void depart(std::int32_t pid, const PeerKey& peer);
  void sweep(std::uint32_t covered, StateSample& sample);
  std::int32_t scanned_owner(const core::TcpSocket& s, const core::Snapshot& snap) const;
  void remember_processes(const core::OwnerTable& owners, bool partial);
  void push_history(StateSample sample);

  TrackerOptions opts_;
  Clock::time_point now_{};
  std::uint32_t generation_ = 0;
  std::size_t samples_ = 0;
  std::uint32_t ever_covered_ = 0; // states sampled at least once
  bool owners_partial_ = false;    // the current update's owner table names a few processes
  std::optional<Clock::time_point> owners_scanned_at_;
  std::unordered_map<std::uint64_t, Entry> entries_;
  std::unordered_map<std::int32_t, core::ProcessInfo> processes_;
  std::deque<StateSample> history_;
  Series total_;
  std::unordered_map<std::int32_t, Series> by_process_;
  std::unordered_map<PeerKey, Series, PeerHash> by_peer_;
};

} // namespace sockdoctor::analyze
