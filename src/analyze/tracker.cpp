// Cookie tracking across samples. The kernel keeps a socket's cookie when it becomes a TIME_WAIT
// mini-socket (inet_twsk_alloc copies sk_cookie), so a cookie names one connection for its life.
#include "analyze/tracker.hpp"

#include <algorithm>
#include <cstring>

namespace sockdoctor::analyze {
namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool has_state(std::uint32_t mask, core::TcpState s) {
  return (mask & core::state_bit(s)) != 0;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  // FNV-1a style mixing, with a final avalanche below: the keys only need to be well spread.
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

std::uint64_t hash_address(std::uint64_t h, const core::IpAddress& a) {
  std::uint64_t lo = 0, hi = 0;
  std::memcpy(&lo, a.bytes.data(), 8);
  std::memcpy(&hi, a.bytes.data() + 8, 8);
  return mix(mix(mix(h, static_cast<std::uint64_t>(a.family)), lo), hi);
}

std::uint64_t avalanche(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Least-squares slope of (time, count) in counts per minute.
template <typename Points>
double slope_per_minute(const Points& points, Clock::time_point now, std::uint64_t count_now) {
  const std::size_t n = points.size() + 1;
  if (n < 2) return 0;
  const auto t0 = points.empty() ? now : points.front().time;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  auto add = [&](Clock::time_point t, std::uint64_t c) {
    const double x = seconds_between(t0, t);
    const double y = static_cast<double>(c);
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  };
  for (const auto& p : points)
    add(p.time, p.count);
  add(now, count_now);
  const double dn = static_cast<double>(n);
  const double den = dn * sxx - sx * sx;
  if (den <= 1e-12) return 0;
  return (dn * sxy - sx * sy) / den * 60.0;
}

} // namespace

std::string_view trend_name(TrendKind k) {
  switch (k) {
  case TrendKind::WarmingUp:
    return "warming_up";
  case TrendKind::Stable:
    return "stable";
  case TrendKind::Leak:
    return "leak";
  case TrendKind::Churn:
    return "churn";
  case TrendKind::Draining:
    return "draining";
  }
  return "warming_up";
}

std::uint64_t socket_identity(const core::TcpSocket& s) {
  if (s.cookie != 0) return s.cookie & ~(1ULL << 63);
  std::uint64_t h = mix(0, s.netns_ino);
  h = hash_address(h, s.local.addr);
  h = hash_address(h, s.peer.addr);
  h = mix(h, (static_cast<std::uint64_t>(s.local.port) << 16) | s.peer.port);
  return avalanche(h) | (1ULL << 63);
}

std::size_t SocketTracker::PeerHash::operator()(const PeerKey& k) const {
  return static_cast<std::size_t>(avalanche(hash_address(mix(0, k.netns), k.addr)));
}

SocketTracker::SocketTracker(TrackerOptions opts) : opts_(opts) {}

// ---- trend series ---------------------------------------------------------------------------

void SocketTracker::Series::begin_sample(Clock::time_point now, double window) {
  while (!points.empty() && seconds_between(points.front().time, now) > window)
    points.pop_front();
  count = arrivals = departures = survivors = long_lived = 0;
  oldest_age.reset();
}

void SocketTracker::Series::finish_sample(Clock::time_point now, const TrackerOptions& o) {
  std::uint64_t count_then = 0, arrivals_w = arrivals, departures_w = departures;
  double window = 0, mean = static_cast<double>(count);
  if (!points.empty()) {
    count_then = points.front().count;
    window = seconds_between(points.front().time, now);
    double sum = static_cast<double>(count);
    for (std::size_t i = 0; i < points.size(); ++i) {
      sum += static_cast<double>(points[i].count);
      if (i == 0) continue; // what happened before the window start is not in the window
      arrivals_w += points[i].arrivals;
      departures_w += points[i].departures;
    }
    mean = sum / static_cast<double>(points.size() + 1);
  }
  Trend t;
  t.count = count;
  t.long_lived = long_lived;
  t.window_seconds = window;
  t.growth_per_min = slope_per_minute(points, now, count);
  const double minutes = window / 60.0;
  t.arrivals_per_min = minutes > 0 ? static_cast<double>(arrivals_w) / minutes : 0;
  t.departures_per_min = minutes > 0 ? static_cast<double>(departures_w) / minutes : 0;
  t.retained =
      count_then == 0
          ? 1.0
          : std::min(1.0, static_cast<double>(survivors) / static_cast<double>(count_then));
  const bool enough = window >= o.min_trend_seconds && points.size() + 1 >= o.min_trend_samples;
  const auto net = static_cast<std::int64_t>(count) - static_cast<std::int64_t>(count_then);
  if (!enough)
    t.kind = TrendKind::WarmingUp;
  else if (net >= static_cast<std::int64_t>(o.leak_min_growth) && t.growth_per_min > 0 &&
           t.retained >= o.leak_retention)
    t.kind = TrendKind::Leak;
  else if (arrivals_w > 0 && departures_w > 0 &&
           static_cast<double>(departures_w) >= o.churn_turnover * std::max(mean, 1.0))
    t.kind = TrendKind::Churn;
  else if (net < 0 && arrivals_w == 0)
    t.kind = TrendKind::Draining;
  else
    t.kind = TrendKind::Stable;
  trend = t;
  points.push_back({now, count, arrivals, departures});
  if (count > 0) last_nonzero = now;
}

void SocketTracker::begin_series(Clock::time_point now) {
  const double w = opts_.trend_window_seconds;
  total_.begin_sample(now, w);
  for (auto& [pid, s] : by_process_)
    s.begin_sample(now, w);
  for (auto& [peer, s] : by_peer_)
    s.begin_sample(now, w);
}

void SocketTracker::finish_series(Clock::time_point now) {
  total_.finish_sample(now, opts_);
  auto finish = [&](auto& map) {
    for (auto it = map.begin(); it != map.end();) {
      it->second.finish_sample(now, opts_);
      const auto& s = it->second;
      const bool idle = s.count == 0 && (!s.last_nonzero || seconds_between(*s.last_nonzero, now) >
                                                                opts_.trend_window_seconds);
      it = idle ? map.erase(it) : std::next(it);
    }
  };
  finish(by_process_);
  finish(by_peer_);
}

void SocketTracker::arrive(std::int32_t pid, const PeerKey& peer) {
  ++total_.arrivals;
  ++by_process_[pid].arrivals;
  ++by_peer_[peer].arrivals;
}

void SocketTracker::depart(std::int32_t pid, const PeerKey& peer) {
  ++total_.departures;
  ++by_process_[pid].departures;
  ++by_peer_[peer].departures;
}

void SocketTracker::count_close_wait(const core::TcpSocket& s, const Entry& e) {
  const double seen_for = e.age_base + seconds_between(e.first_seen, now_);
  const double acked_ago = s.has_info ? s.info.last_ack_recv_ms / 1000.0 : 0.0;
  const bool long_lived = std::max(seen_for, acked_ago) >= opts_.long_lived_seconds;
  for (Series* series : {&total_, &by_process_[e.pid], &by_peer_[e.peer]}) {
    ++series->count;
    if (!series->points.empty() && e.first_seen <= series->points.front().time) ++series->survivors;
    if (long_lived) ++series->long_lived;
    if (!series->oldest_age || seen_for > *series->oldest_age) series->oldest_age = seen_for;
  }
}

// ---- owners -----------------------------------------------------------------------------------

std::int32_t SocketTracker::scanned_owner(const core::TcpSocket& s,
                                          const core::Snapshot& snap) const {
  if (s.inode == 0) return kNoOwner;
  std::int32_t best = kOwnerPending;
  for (const auto& ref : snap.owners.owners_of(s.inode)) {
    const std::int32_t pid = snap.owners.process(ref.process_index).pid;
    if (best == kOwnerPending || pid < best) best = pid; // shared after fork: lowest pid
  }
  return best;
}

void SocketTracker::remember_processes(const core::OwnerTable& owners, bool partial) {
  if (!partial) processes_.clear();
  for (const auto& p : owners.processes())
    processes_[p.pid] = p;
}

// ---- update -----------------------------------------------------------------------------------

std::int32_t SocketTracker::observed_owner(const core::TcpSocket& s,
                                           const core::Snapshot& snap,
                                           const Entry* known) const {
  if (s.inode == 0) return kNoOwner;
  // Accepted since the last scan: it has an fd now, held by a process not yet named.
  if (known && known->pid == kNoOwner) known = nullptr;
  if (!snap.owners.scanned) return known ? known->pid : kOwnerPending;
  const std::int32_t pid = scanned_owner(s, snap);
  // A partial table that does not name the socket says nothing about it.
  if (pid == kOwnerPending && owners_partial_ && known) return known->pid;
  return pid;
}

void SocketTracker::observe(const core::TcpSocket& s,
                            const core::Snapshot& snap,
                            std::uint32_t first_time_states,
                            StateSample& sample) {
  using core::TcpState;
  const auto state = static_cast<std::size_t>(s.state);
  auto [it, inserted] = entries_.try_emplace(socket_identity(s));
  Entry& e = it->second;
  const std::int32_t pid = observed_owner(s, snap, inserted ? nullptr : &e);
  if (inserted || e.state != s.state) {
    if (!inserted && has_state(sample.covered, e.state))
      ++sample.departed[static_cast<std::size_t>(e.state)];
    if (!inserted && e.state == TcpState::CloseWait) depart(e.pid, e.peer);
    e.state = s.state;
    e.first_seen = now_;
    e.at_start = inserted && has_state(first_time_states, s.state);
    // The FIN that led here was the last ACK-bearing segment (kernel-facts section 10): keep
    // that age, so samples without tcp_info still know how old the socket is.
    const bool by_ack = (s.state == TcpState::CloseWait || s.state == TcpState::FinWait2) &&
                        s.inode != 0 && s.has_info;
    e.age_base = by_ack ? static_cast<float>(s.info.last_ack_recv_ms / 1000.0) : 0.0f;
    e.peer = PeerKey{s.netns_ino, s.peer.addr};
    e.pid = pid; // a socket that lost its fd keeps its last process in last_holder
    if (!e.at_start) ++sample.appeared[state];
    if (s.state == TcpState::CloseWait && !e.at_start) arrive(e.pid, e.peer);
  } else if (pid != e.pid) {
    if (s.state == TcpState::CloseWait) {
      // Pending -> named is the owner scan catching up, not a socket moving between processes.
      if (e.pid != kOwnerPending) ++by_process_[e.pid].departures;
      ++by_process_[pid].arrivals;
    }
    e.pid = pid;
  }
  if (e.pid > 0) e.last_holder = e.pid;
  e.generation = generation_;
  if (s.state == TcpState::CloseWait) count_close_wait(s, e);
}

void SocketTracker::sweep(std::uint32_t covered, StateSample& sample) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& e = it->second;
    if (e.generation == generation_ || !has_state(covered, e.state)) {
      ++it;
      continue;
    }
    ++sample.departed[static_cast<std::size_t>(e.state)];
    if (e.state == core::TcpState::CloseWait) depart(e.pid, e.peer);
    it = entries_.erase(it);
  }
}

void SocketTracker::push_history(StateSample sample) {
  history_.push_back(sample);
  while (history_.size() > std::max<std::size_t>(opts_.history_samples, 2))
    history_.pop_front();
}

void SocketTracker::update(const core::Snapshot& snap,
                           std::uint32_t covered,
                           const StateCounts& counts,
                           bool owners_partial) {
  now_ = snap.taken_at;
  ++generation_;
  ++samples_;
  owners_partial_ = owners_partial && snap.owners.scanned;
  const std::uint32_t first_time_states = covered & ~ever_covered_;
  if (snap.owners.scanned) {
    remember_processes(snap.owners, owners_partial_);
    if (!owners_partial_) owners_scanned_at_ = now_;
  }
  begin_series(now_);
  StateSample sample{now_, counts, {}, {}, covered};
  for (const auto& s : snap.sockets)
    if (has_state(covered, s.state)) observe(s, snap, first_time_states, sample);
  sweep(covered, sample);
  finish_series(now_);
  ever_covered_ |= covered;
  push_history(sample);
}

// ---- queries ----------------------------------------------------------------------------------

std::optional<Clock::time_point> SocketTracker::first_seen(const core::TcpSocket& s) const {
  auto it = entries_.find(socket_identity(s));
  if (it == entries_.end() || it->second.state != s.state) return std::nullopt;
  return it->second.first_seen;
}

Age SocketTracker::age(const core::TcpSocket& s, const core::KernelSettings& k) const {
  const Age estimate = estimate_age(s, k);
  auto it = entries_.find(socket_identity(s));
  if (it == entries_.end() || it->second.state != s.state) return estimate;
  const Entry& e = it->second;
  const double secs = e.age_base + std::max(0.0, seconds_between(e.first_seen, now_));
  const Age seen = e.age_base > 0 ? Age{secs, AgeBasis::LastAck, true}
                                  : Age{secs, AgeBasis::FirstSeen, e.at_start};
  if (!estimate.seconds) return seen;
  // Both are lower bounds (or exact): the larger one is closer to the truth.
  return *estimate.seconds > *seen.seconds ? estimate : seen;
}

std::int32_t SocketTracker::owner(const core::TcpSocket& s) const {
  auto it = entries_.find(socket_identity(s));
  if (it == entries_.end()) return s.inode == 0 ? kNoOwner : kOwnerPending;
  return it->second.pid;
}

std::int32_t SocketTracker::last_holder(const core::TcpSocket& s) const {
  auto it = entries_.find(socket_identity(s));
  return it == entries_.end() ? 0 : it->second.last_holder;
}

const core::ProcessInfo* SocketTracker::process(std::int32_t pid) const {
  auto it = processes_.find(pid);
  return it == processes_.end() ? nullptr : &it->second;
}

double SocketTracker::rate_per_second(core::TcpState s, double over_seconds) const {
  if (history_.size() < 2) return 0;
  const auto& last = history_.back();
  const StateSample* base = &history_[history_.size() - 2];
  for (auto it = history_.rbegin() + 1; it != history_.rend(); ++it) {
    if (seconds_between(it->time, last.time) > over_seconds) break;
    base = &*it;
  }
  const double dt = seconds_between(base->time, last.time);
  if (dt <= 0) return 0;
  const auto i = static_cast<std::size_t>(s);
  return (static_cast<double>(last.counts[i]) - static_cast<double>(base->counts[i])) / dt;
}

std::vector<GroupTrend> SocketTracker::close_wait_by_process() const {
  std::vector<GroupTrend> out;
  out.reserve(by_process_.size());
  for (const auto& [pid, s] : by_process_) {
    GroupTrend g;
    g.pid = pid;
    if (const auto* p = process(pid)) g.comm = p->comm;
    g.trend = s.trend;
    g.oldest_age_s = s.oldest_age;
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const GroupTrend& a, const GroupTrend& b) {
    if (a.trend.count != b.trend.count) return a.trend.count > b.trend.count;
    return a.pid < b.pid;
  });
  return out;
}

std::vector<GroupTrend> SocketTracker::close_wait_by_peer() const {
  std::vector<GroupTrend> out;
  out.reserve(by_peer_.size());
  for (const auto& [key, s] : by_peer_) {
    GroupTrend g;
    g.peer = key.addr;
    g.netns = key.netns;
    g.trend = s.trend;
    g.oldest_age_s = s.oldest_age;
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const GroupTrend& a, const GroupTrend& b) {
    if (a.trend.count != b.trend.count) return a.trend.count > b.trend.count;
    if (a.netns != b.netns) return a.netns < b.netns;
    return a.peer.bytes < b.peer.bytes;
  });
  return out;
}

} // namespace sockdoctor::analyze
