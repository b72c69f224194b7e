// Builds the live view's model from the tracker and the latest samples. The TIME_WAIT and port
// budget sections need every socket, so they are rebuilt only on detail samples (and on a new
// filter); the CLOSE_WAIT / FIN_WAIT2 sections come from every sample.
#include "analyze/top_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "analyze/kernel_model.hpp"
#include "analyze/traced_knowledge.hpp"

namespace sockdoctor::analyze {
namespace {

using core::TcpState;

bool has_state(std::uint32_t mask, TcpState s) {
  return (mask & core::state_bit(s)) != 0;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::optional<std::uint32_t> parse_number(std::string_view text, std::uint32_t max) {
  std::uint32_t v = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || v > max) return std::nullopt;
  return v;
}

core::Result<void> apply_term(TopFilter& f, std::string_view term) {
  auto split = term.find(':');
  std::string_view key = split == std::string_view::npos ? "" : term.substr(0, split);
  std::string_view value = split == std::string_view::npos ? term : term.substr(split + 1);
  if (key == "port" || (key.empty() && split != std::string_view::npos) ||
      (key.empty() && parse_number(value, 65535))) {
    auto n = parse_number(value, 65535);
    if (!n || *n == 0) return core::fail(fmt::format("'{}': not a port number", term));
    f.port = static_cast<std::uint16_t>(*n);
    return {};
  }
  if (key == "pid") {
    auto n = parse_number(value, 0x7fffffff);
    if (!n || *n == 0) return core::fail(fmt::format("'{}': not a pid", term));
    f.pid = static_cast<std::int32_t>(*n);
    return {};
  }
  if (key == "state" || key.empty()) {
    if (auto m = core::parse_state_word(value)) {
      f.state_mask = (f.state_mask == core::kAllStatesMask ? 0 : f.state_mask) | *m;
      return {};
    }
    if (key == "state") return core::fail(fmt::format("'{}': unknown state or group", value));
  }
  if (key.empty() || key == "proc" || key == "comm") {
    if (value.empty()) return core::fail(fmt::format("'{}': empty process name", term));
    f.comm = std::string(value);
    return {};
  }
  return core::fail(fmt::format("'{}': unknown filter (port:, pid:, state:, proc:)", key));
}

Age older(const Age& a, const Age& b) {
  if (!a.seconds) return b;
  if (!b.seconds) return a;
  return *b.seconds > *a.seconds ? b : a;
}

using AddrKey = std::tuple<std::uint8_t, std::array<std::uint8_t, 16>>;
AddrKey addr_key(const core::IpAddress& a) {
  return {static_cast<std::uint8_t>(a.family), a.bytes};
}

std::vector<DestinationRow> destination_rows(const std::vector<PortBudget>& budgets) {
  std::vector<DestinationRow> out;
  for (const auto& b : budgets) {
    DestinationRow r;
    r.source = core::to_string(b.source);
    r.destination = core::to_string(b.destination);
    r.in_use = b.in_use();
    r.time_wait = b.time_wait;
    r.usable = b.usable;
    r.fraction = b.fraction();
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace

std::string_view sort_name(SortKey k) {
  switch (k) {
  case SortKey::Count:
    return "count";
  case SortKey::Age:
    return "age";
  case SortKey::Growth:
    return "growth";
  case SortKey::Pid:
    return "pid";
  }
  return "count";
}

SortKey next_sort(SortKey k) {
  switch (k) {
  case SortKey::Count:
    return SortKey::Age;
  case SortKey::Age:
    return SortKey::Growth;
  case SortKey::Growth:
    return SortKey::Pid;
  case SortKey::Pid:
    return SortKey::Count;
  }
  return SortKey::Count;
}

std::string TopFilter::describe() const {
  std::vector<std::string> parts;
  if (state_mask != core::kAllStatesMask) {
    std::string states;
    for (auto s : core::kAllStates)
      if (has_state(state_mask, s))
        states += (states.empty() ? "" : ",") + std::string(core::ss_name(s));
    parts.push_back("state " + states);
  }
  if (port) parts.push_back(fmt::format("port {}", *port));
  if (pid) parts.push_back(fmt::format("pid {}", *pid));
  if (!comm.empty()) parts.push_back("process " + comm);
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : ", ") + p;
  return out;
}

core::Result<TopFilter> parse_top_filter(std::string_view text) {
  TopFilter f;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ')
      ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ')
      ++j;
    if (j > i) {
      auto r = apply_term(f, text.substr(i, j - i));
      if (!r) return tl::unexpected(r.error());
    }
    i = j;
  }
  return f;
}

LiveView::LiveView(LiveOptions opts) : opts_(std::move(opts)), tracker_(opts_.tracker) {}

template <typename Fn> void LiveView::for_each_socket(Fn&& fn) const {
  if (!last_) return;
  for (const auto& s : last_->snapshot.sockets)
    if (has_state(last_covered_, s.state)) fn(s);
  if (detail_ && detail_ != last_)
    for (const auto& s : detail_->snapshot.sockets)
      if (!has_state(last_covered_, s.state)) fn(s);
}

std::int32_t LiveView::owner_of(const core::TcpSocket& s) const {
  const std::int32_t pid = tracker_.owner(s);
  if (pid == kNoOwner) return tracker_.last_holder(s); // TIME_WAIT: whoever held it alive
  return pid;
}

bool LiveView::matches(const core::TcpSocket& s) const {
  const auto& f = query_.filter;
  if (!has_state(f.state_mask, s.state)) return false;
  if (f.port && s.local.port != *f.port && s.peer.port != *f.port) return false;
  if (!f.pid && f.comm.empty()) return true;
  const std::int32_t pid = owner_of(s);
  if (f.pid && pid != *f.pid) return false;
  if (!f.comm.empty()) {
    const auto* p = pid > 0 ? tracker_.process(pid) : nullptr;
    if (p == nullptr || p->comm.find(f.comm) == std::string::npos) return false;
  }
  return true;
}

void LiveView::add_sample(core::Sample sample) {
  const bool detail = sample.is_complete();
  if (sample.kernel) kernel_ = *sample.kernel;
  if (!sample.kernel) sample.kernel = kernel_; // a light sample's settings are the last read
  auto shared = std::make_shared<const core::Sample>(std::move(sample));
  tracker_.update(shared->snapshot, shared->listed_states, shared->counts, shared->owners_partial);
  last_ = shared;
  last_covered_ = shared->listed_states;
  if (detail) {
    detail_ = shared;
    HostModelOptions o;
    o.diagnose = opts_.diagnose;
    o.findings = opts_.findings;
    host_ = build_host_model(shared, o, &tracker_);
    findings_.clear();
    for (const auto& f : host_->diagnosis.findings)
      findings_.push_back({f.severity, f.id, f.title});
    rebuild_detail_sections();
  }
  if (!query_.filter.empty()) record_filtered_counts();
}

void LiveView::set_query(TopQuery q) {
  const bool refilter = !(q.filter.describe() == query_.filter.describe());
  query_ = std::move(q);
  if (!refilter) return;
  filtered_.clear();
  rebuild_detail_sections();
  if (!query_.filter.empty()) record_filtered_counts();
}

void LiveView::record_filtered_counts() {
  StateSample s;
  s.time = tracker_.now();
  s.covered = core::kAllStatesMask;
  for_each_socket([&](const core::TcpSocket& sock) {
    if (matches(sock)) ++s.counts[static_cast<std::size_t>(sock.state)];
  });
  filtered_.push_back(s);
  while (filtered_.size() > std::max<std::size_t>(opts_.tracker.history_samples, 2))
    filtered_.pop_front();
}

// The TIME_WAIT and destination sections: the host model's, or recomputed over the sockets the
// filter matches, with the same functions.
void LiveView::rebuild_detail_sections() {
  time_wait_.clear();
  destinations_.clear();
  if (!host_) return;
  if (query_.filter.empty()) {
    time_wait_ = host_->time_wait;
    destinations_ = destination_rows(host_->budgets);
  } else {
    const auto& socks = host_->snapshot().sockets;
    const auto match = [this](const core::TcpSocket& s) { return matches(s); };
    const EphemeralPorts ports(socks, [this](std::uint32_t ns) -> const core::KernelSettings& {
      return host_->kernel_of(ns);
    });
    std::optional<TracedKnowledge> traced;
    if (host_->sample->traced) traced.emplace(tracker_, *host_->sample->traced);
    const SocketKnowledge& known = traced ? static_cast<const SocketKnowledge&>(*traced) : tracker_;
    const auto budgets = port_budgets(socks, host_->ages, ports, known, match);
    time_wait_ = time_wait_causes(socks, host_->ages, budgets, known, match);
    destinations_ = destination_rows(budgets);
  }
  if (time_wait_.size() > opts_.max_rows) time_wait_.resize(opts_.max_rows);
  if (destinations_.size() > opts_.max_rows) destinations_.resize(opts_.max_rows);
}

std::vector<StateRow> LiveView::state_rows() const {
  const bool filtered = !query_.filter.empty();
  const auto& hist = filtered ? filtered_ : tracker_.history();
  std::vector<StateRow> rows;
  if (hist.empty()) return rows;
  const auto& last = hist.back();
  const auto& tracked = tracker_.history().back();
  for (auto state : core::kAllStates) {
    const auto i = static_cast<std::size_t>(state);
    StateRow r;
    r.state = state;
    r.count = last.counts[i];
    bool seen = r.count > 0;
    r.history.reserve(hist.size());
    for (const auto& h : hist) {
      r.history.push_back(h.counts[i]);
      seen = seen || h.counts[i] > 0;
    }
    if (!seen) continue;
    if (hist.size() >= 2) {
      const auto& prev = hist[hist.size() - 2];
      r.changed = static_cast<std::int64_t>(r.count) - static_cast<std::int64_t>(prev.counts[i]);
      // rate over the window, from whichever history is shown
      const StateSample* base = &prev;
      for (auto it = hist.rbegin() + 1; it != hist.rend(); ++it) {
        if (seconds_between(it->time, last.time) > opts_.rate_window_seconds) break;
        base = &*it;
      }
      const double dt = seconds_between(base->time, last.time);
      if (dt > 0)
        r.rate_per_s = (static_cast<double>(r.count) - static_cast<double>(base->counts[i])) / dt;
    }
    r.listed = has_state(tracked.covered, state);
    if (!filtered && r.listed) {
      r.appeared = tracked.appeared[i];
      r.departed = tracked.departed[i];
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<HolderRow> LiveView::holder_rows() const {
  std::vector<HolderRow> rows;
  if (!last_) return rows;
  const auto& socks = last_->snapshot.sockets;
  // Exact ages from the eBPF state register when one runs, the tracker's otherwise.
  std::optional<TracedKnowledge> traced;
  if (last_->traced) traced.emplace(tracker_, *last_->traced);
  const SocketKnowledge& known = traced ? static_cast<const SocketKnowledge&>(*traced) : tracker_;
  const auto holders = stuck_holders(
      socks, last_covered_, [&](std::size_t i) { return known.age(socks[i], kernel_); }, known,
      [this](const core::TcpSocket& s) { return matches(s); });
  std::unordered_map<std::int32_t, const Trend*> trends;
  const auto groups = tracker_.close_wait_by_process();
  for (const auto& g : groups)
    trends[g.pid] = &g.trend;
  rows.reserve(holders.size());
  for (const auto& h : holders) {
    HolderRow r{h.pid, h.comm, h.close_wait, h.fin_wait2, h.oldest, std::nullopt};
    if (auto it = trends.find(h.pid); it != trends.end()) r.trend = *it->second;
    rows.push_back(std::move(r));
  }
  const SortKey key = query_.sort;
  std::sort(rows.begin(), rows.end(), [key](const HolderRow& a, const HolderRow& b) {
    const auto na = a.close_wait + a.fin_wait2, nb = b.close_wait + b.fin_wait2;
    const double aa = a.oldest.seconds.value_or(-1), ab = b.oldest.seconds.value_or(-1);
    const double ga = a.trend ? a.trend->growth_per_min : 0,
                 gb = b.trend ? b.trend->growth_per_min : 0;
    switch (key) {
    case SortKey::Count:
      if (na != nb) return na > nb;
      break;
    case SortKey::Age:
      if (aa != ab) return aa > ab;
      break;
    case SortKey::Growth:
      if (ga != gb) return ga > gb;
      break;
    case SortKey::Pid:
      break;
    }
    return a.pid < b.pid;
  });
  if (rows.size() > opts_.max_rows) rows.resize(opts_.max_rows);
  return rows;
}

std::vector<PeerRow> LiveView::peer_rows() const {
  std::vector<PeerRow> rows;
  if (query_.filter.empty()) {
    for (const auto& g : tracker_.close_wait_by_peer()) {
      if (g.trend.count == 0) continue;
      rows.push_back({core::to_string(g.peer), g.trend.count,
                      g.oldest_age_s ? Age{*g.oldest_age_s, AgeBasis::FirstSeen, true} : Age{},
                      g.trend});
      if (rows.size() >= opts_.max_rows) break;
    }
    return rows;
  }
  std::map<std::tuple<std::uint32_t, AddrKey>, PeerRow> by_peer;
  if (last_ && has_state(last_covered_, TcpState::CloseWait)) {
    for (const auto& s : last_->snapshot.sockets) {
      if (s.state != TcpState::CloseWait || !matches(s)) continue;
      auto& r = by_peer[{s.netns_ino, addr_key(s.peer.addr)}];
      if (r.close_wait == 0) r.peer = core::to_string(s.peer.addr);
      ++r.close_wait;
      r.oldest = older(r.oldest, tracker_.age(s, kernel_));
    }
  }
  for (auto& [k, r] : by_peer)
    rows.push_back(std::move(r));
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.close_wait > b.close_wait; });
  if (rows.size() > opts_.max_rows) rows.resize(opts_.max_rows);
  return rows;
}

TopModel LiveView::model() const {
  TopModel m;
  m.query = query_;
  m.findings_enabled = opts_.findings;
  if (!last_) return m;
  const auto now = tracker_.now();
  m.time = now;
  m.sample = tracker_.samples();
  m.source = last_->snapshot.source;
  m.states = state_rows();
  for (const auto& r : m.states)
    m.total += r.count;
  m.close_wait = tracker_.close_wait();
  m.holders = holder_rows();
  m.peers = peer_rows();
  m.time_wait = time_wait_;
  m.destinations = destinations_;
  m.findings = findings_;
  if (detail_) m.detail_age_s = seconds_between(detail_->snapshot.taken_at, now);
  if (auto at = tracker_.owners_scanned_at()) m.owners_age_s = seconds_between(*at, now);
  if (detail_ && detail_->snapshot.owners.scanned)
    m.owners_denied = detail_->snapshot.owners.denied;
  return m;
}

} // namespace sockdoctor::analyze
