// `top` sampling: which dump to ask for each interval, and the kernel counters that stand in for
// the states left out of it.
#include "cli/top_sampler.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>

#include "collect/kernel_settings.hpp"
#include "collect/proc_owners.hpp"

namespace sockdoctor::cli {
namespace {

using core::TcpState;

analyze::StateCounts count_states(const std::vector<core::TcpSocket>& sockets) {
  analyze::StateCounts c{};
  for (const auto& s : sockets)
    ++c[static_cast<std::size_t>(s.state)];
  return c;
}

struct Counters {
  std::uint64_t curr_estab = 0;
  std::uint64_t tw = 0;
};

// Both counters are per network namespace, so they match a dump of the same namespace.
core::Result<Counters> read_counters(const core::FsRoot& root) {
  auto snmp = core::read_text_file(root.proc_path("net/snmp"));
  if (!snmp) return tl::unexpected(snmp.error());
  auto tcp = collect::parse_proc_net_pairs(*snmp, "Tcp");
  if (!tcp) return tl::unexpected(core::with_context("net/snmp", tcp.error()));
  auto estab = tcp->find("CurrEstab");
  if (estab == tcp->end()) return core::fail("net/snmp: no Tcp CurrEstab");
  auto sockstat = core::read_text_file(root.proc_path("net/sockstat"));
  if (!sockstat) return tl::unexpected(sockstat.error());
  auto st = collect::parse_sockstat_tcp(*sockstat);
  if (!st) return tl::unexpected(core::with_context("net/sockstat", st.error()));
  if (!st->tw) return core::fail("net/sockstat: no TCP tw");
  return Counters{estab->second, *st->tw};
}

// "TCP6: inuse N" of /proc/net/sockstat6: full IPv6 TCP sockets of this namespace.
std::optional<std::uint64_t> tcp6_inuse(const core::FsRoot& root) {
  auto text = core::read_text_file(root.proc_path("net/sockstat6"));
  if (!text) return std::nullopt;
  constexpr std::string_view kKey = "TCP6: inuse ";
  const auto at = text->find(kKey);
  if (at == std::string::npos) return std::nullopt;
  return std::strtoull(text->c_str() + at + kKey.size(), nullptr, 10);
}

bool holds_stuck(const core::TcpSocket& s) {
  return s.inode != 0 && (s.state == TcpState::CloseWait || s.state == TcpState::FinWait2);
}

} // namespace

core::OwnerTable scan_fds_of(const core::FsRoot& root,
                             const std::vector<core::ProcessInfo>& procs) {
  core::OwnerTable table;
  for (const auto& p : procs) {
    const std::string dir = root.proc_path(fmt::format("{}/fd", p.pid));
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) {
      ++table.vanished; // exited (or fds no longer readable) since the full scan
      continue;
    }
    const std::uint32_t index = table.add_process(p);
    while (const dirent* e = ::readdir(d.get())) {
      if (e->d_name[0] == '.') continue;
      char link[64];
      const ssize_t n = ::readlinkat(::dirfd(d.get()), e->d_name, link, sizeof link);
      if (n <= 0) continue;
      if (auto inode =
              collect::parse_socket_link(std::string_view(link, static_cast<std::size_t>(n))))
        table.add_fd(*inode, index, std::atoi(e->d_name));
    }
  }
  table.finalize();
  table.scanned = true;
  return table;
}

double process_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

analyze::StateCounts light_counts(const std::vector<core::TcpSocket>& sockets,
                                  std::uint64_t curr_estab,
                                  std::uint64_t sockstat_tw) {
  analyze::StateCounts c = count_states(sockets);
  std::uint64_t fw2_mini = 0;
  for (const auto& s : sockets)
    if (s.state == TcpState::FinWait2 && s.timer == core::TimerKind::TimeWait && s.inode == 0)
      ++fw2_mini;
  auto minus = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
  // The counters and the dump are a few milliseconds apart: clamp instead of going negative.
  c[static_cast<std::size_t>(TcpState::Established)] =
      minus(curr_estab, c[static_cast<std::size_t>(TcpState::CloseWait)]);
  c[static_cast<std::size_t>(TcpState::TimeWait)] = minus(sockstat_tw, fw2_mini);
  return c;
}

TopSampler::TopSampler(const Context& ctx, SamplerOptions opts) : quiet_(ctx), opts_(opts) {
  quiet_.err = &notes_;
  const auto& g = ctx.global;
  // Counters describe sockdoctor's own namespace of the live kernel only.
  light_possible_ =
      g.replay_file.empty() && g.source != "proc" && !g.all_netns && g.record_file.empty();
  if (opts_.fixed_detail_every > 0) detail_every_ = opts_.fixed_detail_every;
}

std::string TopSampler::take_note() {
  if (note_given_) return "";
  const std::string text = notes_.str();
  if (text.empty()) return "";
  note_given_ = true;
  auto end = text.find('\n');
  return text.substr(0, end);
}

core::Result<analyze::LiveSample> TopSampler::next() {
  const bool due = since_detail_ + 1 >= detail_every_;
  if (!light_possible_ || due) {
    auto s = detail_sample();
    if (s) since_detail_ = 0;
    return s;
  }
  auto s = light_sample();
  if (!s) {
    light_possible_ = false; // say it once through the caller; from now on list everything
    return detail_sample();
  }
  ++since_detail_;
  return s;
}

core::Result<analyze::LiveSample> TopSampler::detail_sample() {
  SnapshotRequest req;
  req.owners = opts_.owners;
  auto snap = take_snapshot(quiet_, req);
  if (!snap) return tl::unexpected(snap.error());
  // /proc/net/tcp has no kernel-side state filter: a light sample would cost as much.
  if (snap->source == "proc") light_possible_ = false;
  analyze::LiveSample s;
  s.counts = count_states(snap->sockets);
  s.covered = core::kAllStatesMask;
  auto kernel = collect::read_kernel_settings(quiet_.global.root);
  s.kernel = kernel ? std::move(*kernel) : core::KernelSettings{};
  v6_seen_ = std::any_of(snap->sockets.begin(), snap->sockets.end(), [](const auto& x) {
    return x.family() == core::Family::Ipv6 && x.state != core::TcpState::TimeWait;
  });
  s.snapshot = std::move(*snap);
  if (s.snapshot.owners.scanned) learn_holders(s.snapshot);
  return s;
}

void TopSampler::learn_holders(const core::Snapshot& snap) {
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
bool TopSampler::has_unknown_holders(const core::Snapshot& snap) {
  bool unknown = false;
  for (const auto& s : snap.sockets)
    if (holds_stuck(s) && looked_up_.insert(s.inode).second) unknown = true;
  return unknown;
}

core::Result<analyze::LiveSample> TopSampler::light_sample() {
  SnapshotRequest req;
  req.state_mask = core::kAllStatesMask & ~kCountedStates; // filtered in the kernel
  req.owners = false;
  // Ages were learned when each socket was first seen; new ones are younger than an interval.
  req.tcp_info = false;
  // Both families walk the same hash table: skip the IPv6 pass when there is nothing to find.
  // (An IPv6 mini-socket outlives its full socket, but light samples do not list TIME_WAIT.)
  const auto v6 = tcp6_inuse(quiet_.global.root);
  req.ipv6 = v6_seen_ || !v6 || *v6 > 0;
  auto snap = take_snapshot(quiet_, req);
  if (!snap) return tl::unexpected(snap.error());
  if (snap->source != "sock_diag") return core::fail("no kernel-side state filter");
  auto counters = read_counters(quiet_.global.root);
  if (!counters) return tl::unexpected(counters.error());
  analyze::LiveSample s;
  s.counts = light_counts(snap->sockets, counters->curr_estab, counters->tw);
  s.covered = req.state_mask;
  // A leak grows inside processes we already know: look there first, cheaply, so that new
  // sockets are named now rather than at the next full owner scan.
  if (opts_.owners && has_unknown_holders(*snap) && !holders_.empty() &&
      holder_fds_ <= opts_.targeted_fd_budget) {
    snap->owners = scan_fds_of(quiet_.global.root, holders_);
    s.owners_partial = true;
  }
  s.snapshot = std::move(*snap);
  return s;
}

void TopSampler::record_cost(bool detail, double cpu_seconds) {
  if (!detail || opts_.fixed_detail_every > 0 || !light_possible_) return;
  // Detail samples every N intervals with N chosen so they average <= detail_cpu_share of a
  // core; the light samples in between cost what the kernel-filtered dump costs.
  const double interval = std::max(opts_.interval_seconds, 0.01);
  const double n = std::ceil(cpu_seconds / (opts_.detail_cpu_share * interval));
  detail_every_ = std::clamp(static_cast<int>(n), 1, std::max(opts_.max_detail_every, 1));
}

} // namespace sockdoctor::cli
