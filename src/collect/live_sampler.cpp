// `top` sampling: which dump to ask for each interval, and the kernel counters that stand in for
// the states left out of it.
#include "collect/live_sampler.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>

#include "collect/fs_read.hpp"
#include "collect/proc_counters.hpp"

namespace sockdoctor::collect {
namespace {

using core::TcpState;

bool holds_stuck(const core::TcpSocket& s) {
  return s.inode != 0 && (s.state == TcpState::CloseWait || s.state == TcpState::FinWait2);
}

} // namespace

double process_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

core::StateCounts light_counts(const std::vector<core::TcpSocket>& sockets,
                               std::uint64_t curr_estab,
                               std::uint64_t sockstat_tw) {
  core::StateCounts c = core::count_states(sockets);
  const auto fw2_mini = static_cast<std::uint64_t>(
      std::count_if(sockets.begin(), sockets.end(), core::is_fin_wait2_mini));
  auto minus = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
  // The counters and the dump are a few milliseconds apart: clamp instead of going negative.
  c[static_cast<std::size_t>(TcpState::Established)] =
      minus(curr_estab, c[static_cast<std::size_t>(TcpState::CloseWait)]);
  c[static_cast<std::size_t>(TcpState::TimeWait)] = minus(sockstat_tw, fw2_mini);
  return c;
}

LiveSampler::LiveSampler(SamplerOptions sampler, LiveSamplerOptions opts)
    : sampler_(std::move(sampler)), opts_(opts) {
  // Counters describe sockdoctor's own namespace of the live kernel only.
  light_possible_ = sampler_.live_own_namespace();
  if (opts_.fixed_detail_every > 0) detail_every_ = opts_.fixed_detail_every;
}

core::Result<core::Sample> LiveSampler::next() {
  const bool due = since_detail_ + 1 >= detail_every_;
  if (!light_possible_ || due) {
    auto s = complete_sample();
    if (s) since_detail_ = 0;
    return s;
  }
  auto s = light_sample();
  if (!s) {
    light_possible_ = false; // from now on list everything
    return complete_sample();
  }
  ++since_detail_;
  return s;
}

core::Result<core::Sample> LiveSampler::complete_sample() {
  SampleRequest req;
  req.owners = opts_.owners;
  auto s = sampler_.take(req);
  if (!s) return s;
  // /proc/net/tcp has no kernel-side state filter: a light sample would cost as much.
  if (s->snapshot.source == "proc") light_possible_ = false;
  if (!s->kernel) s->kernel = core::KernelSettings{};
  v6_seen_ = std::any_of(s->snapshot.sockets.begin(), s->snapshot.sockets.end(), [](const auto& x) {
    return x.family() == core::Family::Ipv6 && x.state != TcpState::TimeWait;
  });
  if (s->snapshot.owners.scanned) learn_holders(s->snapshot);
  return s;
}

void LiveSampler::learn_holders(const core::Snapshot& snap) {
  holders_.clear();
  holder_fds_ = 0;
  looked_up_.clear();
  std::unordered_set<std::uint32_t> seen;
  for (const auto& s : snap.sockets) {
    if (!holds_stuck(s)) continue;
    looked_up_.insert(s.inode);
    for (const auto& ref : snap.owners.owners_of(s.inode)) {
      if (!seen.insert(ref.process_index).second) continue;
      holders_.push_back(snap.owners.process(ref.process_index));
      holder_fds_ += holders_.back().fd_count;
    }
  }
}

// True when a CLOSE_WAIT / FIN_WAIT2 socket appeared that no scan has looked for yet.
bool LiveSampler::has_unknown_holders(const core::Snapshot& snap) {
  bool unknown = false;
  for (const auto& s : snap.sockets)
    if (holds_stuck(s) && looked_up_.insert(s.inode).second) unknown = true;
  return unknown;
}

core::Result<core::Sample> LiveSampler::light_sample() {
  const std::string net_dir = sampler_.options().root.proc_path("net");
  SampleRequest req;
  req.state_mask = core::kAllStatesMask & ~kCountedStates; // filtered in the kernel
  req.owners = false;
  req.kernel = false; // re-read on complete samples only
  // Ages were learned when each socket was first seen; new ones are younger than an interval.
  req.tcp_info = false;
  // Both families walk the same hash table: skip the IPv6 pass when there is nothing to find.
  // (An IPv6 mini-socket outlives its full socket, but light samples do not list TIME_WAIT.)
  std::optional<std::uint64_t> v6;
  if (auto text = read_file(net_dir + "/sockstat6")) v6 = parse_sockstat6_tcp_inuse(*text);
  req.ipv6 = v6_seen_ || !v6 || *v6 > 0;
  auto s = sampler_.take(req);
  if (!s) return s;
  if (s->snapshot.source != "sock_diag") return core::fail("no kernel-side state filter");
  // Both counters are per network namespace, so they match a dump of the same namespace.
  auto counters = read_socket_counts(net_dir);
  if (!counters) return tl::unexpected(counters.error());
  if (!counters->curr_estab) return core::fail(net_dir + "/snmp: no Tcp CurrEstab");
  if (!counters->v4.tw) return core::fail(net_dir + "/sockstat: no TCP tw");
  s->counts = light_counts(s->snapshot.sockets, *counters->curr_estab, *counters->v4.tw);
  // A leak grows inside processes we already know: look there first, cheaply, so that new
  // sockets are named now rather than at the next full owner scan.
  if (opts_.owners && has_unknown_holders(s->snapshot) && !holders_.empty() &&
      holder_fds_ <= opts_.targeted_fd_budget) {
    if (auto owners = sampler_.rescan_owners(holders_)) {
      s->snapshot.owners = std::move(*owners);
      s->owners_partial = true;
    }
  }
  return s;
}

void LiveSampler::record_cost(bool complete, double cpu_seconds) {
  if (!complete || opts_.fixed_detail_every > 0 || !light_possible_) return;
  // Complete samples every N intervals with N chosen so they average <= detail_cpu_share of a
  // core; the light samples in between cost what the kernel-filtered dump costs.
  const double interval = std::max(opts_.interval_seconds, 0.01);
  const double n = std::ceil(cpu_seconds / (opts_.detail_cpu_share * interval));
  detail_every_ = std::clamp(static_cast<int>(n), 1, std::max(opts_.max_detail_every, 1));
}

} // namespace sockdoctor::collect
