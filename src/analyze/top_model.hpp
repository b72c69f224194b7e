// The live view's model: samples in, one TopModel out (states with history, CLOSE_WAIT holders
// with leak/churn trends, TIME_WAIT causes, port budgets, findings), for `sockdoctor top`.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyze/attribution.hpp"
#include "analyze/diagnose.hpp"
#include "analyze/host_model.hpp"
#include "analyze/tracker.hpp"
#include "core/error.hpp"

namespace sockdoctor::analyze {

enum class SortKey : std::uint8_t { Count, Age, Growth, Pid };
std::string_view sort_name(SortKey k); // "count", "age", "growth", "pid"
SortKey next_sort(SortKey k);

struct TopFilter {
  std::optional<std::int32_t> pid;
  std::string comm;                  // substring of the owner's process name
  std::optional<std::uint16_t> port; // local or peer port
  std::uint32_t state_mask = core::kAllStatesMask;

  bool empty() const { return !pid && comm.empty() && !port && state_mask == core::kAllStatesMask; }
  // "port 443, process nginx"; "" when empty.
  std::string describe() const;
};

// What the user typed at the filter prompt, space-separated terms that must all match:
// "port:443" (or ":443", or a bare number), "pid:123", "state:close-wait" (or a bare state or group
// name), "proc:NAME" (or any other word): a process name substring. "" clears the filter.
core::Result<TopFilter> parse_top_filter(std::string_view text);

struct TopQuery {
  TopFilter filter;
  SortKey sort = SortKey::Count;
};

struct StateRow {
  core::TcpState state = core::TcpState::Unknown;
  std::uint64_t count = 0;
  double rate_per_s = 0;              // change per second over the rate window
  std::int64_t changed = 0;           // since the previous sample
  std::uint64_t appeared = 0;         // listed sockets new in this state since the last listing
  std::uint64_t departed = 0;         // listed sockets that left it
  bool listed = true;                 // false: counted by kernel counters, sockets not listed
  std::vector<std::uint64_t> history; // oldest first, ends with `count`
};

struct HolderRow {
  std::int32_t pid = kOwnerPending; // or kNoOwner
  std::string comm;                 // raw
  std::uint64_t close_wait = 0;
  std::uint64_t fin_wait2 = 0;
  Age oldest;                 // oldest CLOSE_WAIT / FIN_WAIT2 socket it holds
  std::optional<Trend> trend; // of its whole CLOSE_WAIT set
};

struct PeerRow {
  std::string peer; // address
  std::uint64_t close_wait = 0;
  Age oldest;
  std::optional<Trend> trend; // absent when a filter narrows the sockets
};

using TimeWaitRow = TimeWaitCause;

struct DestinationRow {
  std::string source;       // local address
  std::string destination;  // peer address:port
  std::uint64_t in_use = 0; // 4-tuples on ephemeral ports: live, FIN_WAIT2 and TIME_WAIT
  std::uint64_t time_wait = 0;
  int usable = 0; // usable ephemeral ports (range - reserved - listeners in the range)
  double fraction = 0;
};

struct FindingLine {
  Severity severity = Severity::Info;
  std::string id;
  std::string title; // raw: may contain process names
};

struct TopModel {
  Clock::time_point time{};
  std::uint64_t sample = 0;
  std::string source;
  TopQuery query;
  std::uint64_t total = 0;
  std::vector<StateRow> states; // display order; states with sockets now or in the history
  Trend close_wait;             // all CLOSE_WAIT sockets
  std::vector<HolderRow> holders;
  std::vector<PeerRow> peers;
  std::vector<TimeWaitRow> time_wait;
  std::vector<DestinationRow> destinations;
  std::vector<FindingLine> findings; // most severe first
  bool findings_enabled = true;
  std::optional<double> detail_age_s; // age of the TIME_WAIT, destination and findings sections
  std::optional<double> owners_age_s; // nullopt: owners never scanned
  std::uint32_t owners_denied = 0;
};

struct LiveOptions {
  TrackerOptions tracker;
  DiagnoseOptions diagnose;
  bool findings = true;
  std::size_t max_rows = 100;      // per section
  double rate_window_seconds = 10; // StateRow::rate_per_s
};

class LiveView {
public:
  explicit LiveView(LiveOptions opts = {});

  // One interval's observation. A complete sample lists every state; in between, the big states
  // (ESTABLISHED, TIME_WAIT) may be counted by kernel counters only, and their sockets are
  // carried over from the last complete sample.
  void add_sample(core::Sample sample);
  void set_query(TopQuery q);
  const TopQuery& query() const { return query_; }
  bool empty() const { return last_ == nullptr; }
  TopModel model() const;
  const SocketTracker& tracker() const { return tracker_; }

private:
  template <typename Fn> void for_each_socket(Fn&& fn) const;
  std::int32_t owner_of(const core::TcpSocket& s) const;
  bool matches(const core::TcpSocket& s) const;
  void rebuild_detail_sections();
  void record_filtered_counts();
  std::vector<StateRow> state_rows() const;
  std::vector<HolderRow> holder_rows() const;
  std::vector<PeerRow> peer_rows() const;

  LiveOptions opts_;
  SocketTracker tracker_;
  TopQuery query_;
  std::shared_ptr<const core::Sample> last_, detail_;
  std::optional<HostModel> host_; // of the last complete sample
  std::uint32_t last_covered_ = 0;
  core::KernelSettings kernel_;
  std::vector<FindingLine> findings_;
  std::vector<TimeWaitRow> time_wait_;
  std::vector<DestinationRow> destinations_;
  std::deque<StateSample> filtered_; // counts of matching sockets since the filter was set
};

} // namespace sockdoctor::analyze
