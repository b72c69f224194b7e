// Onsets, growth rates, pid changes and daemon restarts from a window of history rows.
#include "store/history_trends.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <unordered_map>

namespace sockdoctor::store {
namespace {

// Holders are followed by name across intervals (pids change on restarts); sockets that no
// process holds (orphans, or not yet attributed) are followed as one more line.
std::string holder_key(const HolderRecord& h) {
  return h.pid > 0 ? "p" + h.name : std::string("o");
}

// One interval's rows of one holder, summed (several processes may share a name).
struct Appearance {
  std::uint64_t close_wait = 0;
  std::uint64_t fin_wait2 = 0;
  std::vector<std::int32_t> pids; // sorted, unique once the interval is done
  std::optional<double> oldest_s;
  std::size_t interval = SIZE_MAX; // which interval it sums
};

struct Accumulator {
  HolderTrend trend;
  std::vector<std::int32_t> last_pids; // sorted
  bool seen = false;
  Appearance here;
};

std::optional<double> median_spacing(const std::vector<double>& t) {
  if (t.size() < 2) return std::nullopt;
  std::vector<double> d;
  for (std::size_t i = 1; i < t.size(); ++i)
    d.push_back(t[i] - t[i - 1]);
  std::nth_element(d.begin(), d.begin() + d.size() / 2, d.end());
  return d[d.size() / 2];
}

void add_appearance(Accumulator& a, const Appearance& now, double time, std::size_t index) {
  auto& t = a.trend;
  if (!a.seen) t.first_seen = time;
  const bool disjoint = std::none_of(now.pids.begin(), now.pids.end(), [&](std::int32_t p) {
    return std::binary_search(a.last_pids.begin(), a.last_pids.end(), p);
  });
  if (a.seen && !now.pids.empty() && !a.last_pids.empty() && disjoint)
    t.restarts.push_back({time, a.last_pids, now.pids});
  a.seen = true;
  if (!now.pids.empty()) a.last_pids = now.pids;
  t.last_seen = time;
  t.close_wait_series[index] = static_cast<double>(now.close_wait);
  t.peak_close_wait = std::max(t.peak_close_wait, now.close_wait);
  t.oldest_s = now.oldest_s;
}

void finish_trend(Accumulator& a, const std::vector<double>& times) {
  auto& t = a.trend;
  t.pids = a.last_pids;
  const auto& y = t.close_wait_series;
  const std::size_t last = y.size() - 1;
  if (t.last_seen == times[last]) { // present at the end of the window
    t.close_wait = static_cast<std::uint64_t>(y[last]);
  }
  std::size_t from = 0;
  if (auto onset = rise_onset(y)) {
    t.onset = times[*onset];
    from = *onset - 1; // the low point the rise starts from
    t.onset_at_window_start = from == 0 && y[0] > 0;
  }
  const std::span<const double> x(times), ys(y);
  t.growth_per_hour = least_squares_slope(x.subspan(from), ys.subspan(from)) * 3600.0;
}

// Spacing beyond 3 periods of the run that recorded the later interval (the median spacing when
// its run is unknown).
std::vector<Gap> recording_gaps(const History& h, std::optional<double> median) {
  std::map<std::int64_t, double> period;
  for (const auto& r : h.runs)
    period[r.id] = r.interval_s;
  std::vector<Gap> gaps;
  for (std::size_t i = 1; i < h.intervals.size(); ++i) {
    const auto it = period.find(h.intervals[i].run);
    const double p = it != period.end() && it->second > 0 ? it->second : median.value_or(0);
    const double from = h.intervals[i - 1].time, to = h.intervals[i].time;
    if (p > 0 && to - from > 3 * p) gaps.push_back({from, to});
  }
  return gaps;
}

} // namespace

double least_squares_slope(std::span<const double> x, std::span<const double> y) {
  const std::size_t n = std::min(x.size(), y.size());
  if (n < 2) return 0;
  // Centred on the means: Unix times are ~1.8e9, their squares would lose the digits we need.
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

std::optional<std::size_t> rise_onset(std::span<const double> y) {
  if (y.empty()) return std::nullopt;
  std::size_t low = 0;
  for (std::size_t i = 1; i < y.size(); ++i)
    if (y[i] <= y[low]) low = i; // <=: the last occurrence of the minimum
  if (low + 1 >= y.size()) return std::nullopt;
  return low + 1;
}

HistoryTrends history_trends(const History& history, const TrendOptions& options) {
  HistoryTrends out;
  const auto& iv = history.intervals;
  std::vector<Accumulator> holders; // in first-seen order (the sort below is stable)
  std::unordered_map<std::string, std::size_t> by_key;
  std::vector<std::size_t> touched;
  const auto cw = static_cast<std::size_t>(core::TcpState::CloseWait);
  for (std::size_t i = 0; i < iv.size(); ++i) {
    out.times.push_back(iv[i].time);
    out.close_wait_total.push_back(static_cast<double>(iv[i].states[cw]));
  }
  for (std::size_t i = 0; i < iv.size(); ++i) {
    touched.clear();
    for (const auto& h : iv[i].holders) {
      if (!options.holder.empty() && (h.pid <= 0 || h.name != options.holder)) continue;
      auto [it, added] = by_key.try_emplace(holder_key(h), holders.size());
      if (added) {
        holders.emplace_back();
        holders.back().trend.name = h.pid > 0 ? h.name : std::string();
        holders.back().trend.close_wait_series.assign(iv.size(), 0.0);
      }
      auto& a = holders[it->second].here;
      if (a.interval != i) {
        a = Appearance{.interval = i};
        touched.push_back(it->second);
      }
      a.close_wait += h.close_wait;
      a.fin_wait2 += h.fin_wait2;
      if (h.pid > 0) a.pids.push_back(h.pid);
      if (h.oldest_s && (!a.oldest_s || *h.oldest_s > *a.oldest_s)) a.oldest_s = h.oldest_s;
    }
    for (std::size_t k : touched) {
      auto& acc = holders[k];
      std::sort(acc.here.pids.begin(), acc.here.pids.end());
      acc.here.pids.erase(std::unique(acc.here.pids.begin(), acc.here.pids.end()),
                          acc.here.pids.end());
      add_appearance(acc, acc.here, iv[i].time, i);
      if (i + 1 == iv.size()) acc.trend.fin_wait2 = acc.here.fin_wait2;
    }
  }
  for (auto& acc : holders) {
    finish_trend(acc, out.times);
    out.holders.push_back(std::move(acc.trend));
  }
  std::stable_sort(out.holders.begin(), out.holders.end(), [](const auto& a, const auto& b) {
    if (a.rising() != b.rising()) return a.rising();
    if (a.rising() && a.growth_per_hour != b.growth_per_hour)
      return a.growth_per_hour > b.growth_per_hour;
    return a.close_wait > b.close_wait;
  });
  const std::int64_t first_run = history.runs.empty() ? 0 : history.runs.front().id;
  for (const auto& r : history.runs) {
    if (r.started < history.window_start || r.started > history.window_end) continue;
    out.runs.push_back({r, r.id != first_run});
    out.daemon_restarts += r.id != first_run ? 1 : 0;
  }
  if (!iv.empty()) {
    out.findings = iv.back().findings;
    out.states_now = iv.back().states;
  }
  out.interval_s = median_spacing(out.times);
  out.gaps = recording_gaps(history, out.interval_s);
  return out;
}

} // namespace sockdoctor::store
