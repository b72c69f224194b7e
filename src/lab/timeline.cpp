// lab: observing the namespace (sock_diag), the timeline's formatting, and sockdoctor's diagnosis
// of the namespace (its own snapshot: sockets and owners, live).
#include <time.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <ostream>

#include "analyze/diagnose.hpp"
#include "collect/kernel_settings.hpp"
#include "collect/sampler.hpp"
#include "collect/sock_diag.hpp"
#include "lab/lab.hpp"
#include "render/escape.hpp"
#include "render/text.hpp"

namespace sockdoctor::lab {

bool Result::passed() const {
  return error.empty() &&
         std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
}

// ---- Observer ------------------------------------------------------------------------------

core::Result<void> Observer::refresh() {
  std::vector<core::TcpSocket> fresh;
  collect::SockDiagRequest req;
  req.ipv6 = false; // the lab uses 127.0.0.1 only
  auto r = collect::dump_sock_diag(req, fresh);
  if (!r) return tl::unexpected(core::with_context("lab: sock_diag", r.error()));
  sockets_ = std::move(fresh);
  return {};
}

const core::TcpSocket* Observer::find(const Tuple& t) const {
  for (const auto& s : sockets_)
    if (s.local == t.local && s.peer == t.peer) return &s;
  return nullptr;
}

std::string Observer::state_of(const Tuple& t) const {
  const auto* s = find(t);
  return s == nullptr ? std::string("gone") : std::string(core::snake_name(s->state));
}

// ---- formatting ----------------------------------------------------------------------------

std::string display_state(std::string_view state) {
  if (state == "gone" || state == "none" || state.empty()) return "-";
  std::string out(state);
  for (auto& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string clock_text(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  return fmt::format("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string seconds_text(double s) {
  return fmt::format("{:.1f} s", s);
}

std::string
wrap_text(std::string_view text, std::size_t width, std::size_t indent, std::size_t first_column) {
  std::string out;
  render::append_wrapped(out, text,
                         {.width = width, .first_column = first_column, .indent = indent});
  return out;
}

std::string format_timeline_row(const TimelineEntry& e, const std::vector<std::size_t>& widths) {
  std::string line = fmt::format("{}  {:>6}", e.clock, fmt::format("{:.1f}s", e.t));
  std::size_t col = 0;
  for (const auto& [key, state] : e.states) {
    const std::size_t w = col < widths.size() ? widths[col] : 12;
    line += fmt::format("  {:<{}}", display_state(state), w);
    ++col;
  }
  for (const auto& [key, n] : e.counts) {
    const std::size_t w = col < widths.size() ? widths[col] : 8;
    line += fmt::format("  {:>{}}", n, w);
    ++col;
  }
  for (; col < widths.size(); ++col) // an events-only row: keep the events in their column
    line += std::string(2 + widths[col], ' ');
  for (std::size_t i = 0; i < e.events.size(); ++i)
    line += (i == 0 ? "  " : "; ") + render::escape_for_terminal(e.events[i].text);
  while (!line.empty() && line.back() == ' ')
    line.pop_back();
  return line;
}

// ---- Ticker --------------------------------------------------------------------------------

void Ticker::offer(std::vector<std::pair<std::string, std::string>> states,
                   std::vector<std::pair<std::string, std::int64_t>> counts,
                   std::vector<Event> events) {
  const double now = rec_.elapsed();
  const bool changed = states != last_states_;
  if (!changed && events.empty() && now - last_t_ < period_) return;
  last_t_ = now;
  last_states_ = states;
  last_counts_ = counts;
  rec_.add(std::move(states), std::move(counts), std::move(events));
}

std::string Ticker::last(std::string_view key) const {
  for (const auto& [k, v] : last_states_)
    if (k == key) return v;
  return {};
}

// ---- Change --------------------------------------------------------------------------------

void Change::sample(double t, bool happened) {
  if (seen()) return;
  if (happened)
    after = t;
  else
    before = t;
}

std::string Change::since(double origin) const {
  if (!seen()) return "never";
  const double hi = after - origin, lo = std::max(before - origin, 0.0);
  if (before < 0 || hi - lo <= 0.5) return fmt::format("{:.1f} s", hi);
  return fmt::format("{:.1f}-{:.1f} s", lo, hi);
}

bool Change::within(double origin, double want, double below, double above) const {
  if (!seen()) return false;
  const double hi = after - origin, lo = before < 0 ? hi : before - origin;
  return hi >= want - below && lo <= want + above;
}

// ---- diagnosis -----------------------------------------------------------------------------

core::Result<core::KernelSettings> namespace_settings() {
  // Read from this thread: /proc/sys/net and /proc/self/net belong to the reader's namespace.
  auto k = collect::read_kernel_settings(core::FsRoot{});
  if (!k) return tl::unexpected(core::with_context("lab: kernel settings", k.error()));
  return k;
}

// The lab's namespace, live, whatever global options were given. The eBPF owner iterator pays
// off from 20k sockets; the lab's namespace holds a few dozen. What the owner scan could not see
// concerns the host, not the lab, so it is not reported.
core::Result<Diagnosed> diagnose_namespace(bool owners) {
  collect::SamplerOptions so;
  so.owner_backend = collect::OwnerBackend::Proc;
  collect::SampleRequest req;
  req.ipv6 = false;
  req.owners = owners;
  req.kernel = false; // read below, from this thread
  auto sample = collect::Sampler(so).take(req);
  if (!sample) return tl::unexpected(core::with_context("lab: snapshot", sample.error()));
  const core::Snapshot* snap = &sample->snapshot;
  auto kernel = namespace_settings();
  if (!kernel) return tl::unexpected(kernel.error());
  analyze::DiagnoseOptions opt;
  // Scenarios last seconds, not minutes: report stuck sockets from one second of age on.
  opt.min_age_seconds = 1;
  Diagnosed d;
  d.diagnosis = analyze::diagnose(*snap, *kernel, opt);
  d.kernel = std::move(*kernel);
  return d;
}

void PendingDiagnosis::start(std::string label, double now) {
  label_ = std::move(label);
  at_ = now;
  started_ = true;
  // The worker is created by this thread, so it is in the lab's namespace too.
  future_ = std::async(std::launch::async, [] { return diagnose_namespace(); });
}

core::Result<bool> PendingDiagnosis::poll(Recorder& rec) {
  if (done_) return true;
  if (!started_ || future_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return false;
  done_ = true;
  auto d = future_.get();
  if (!d) return tl::unexpected(d.error());
  rec.diagnosis(label_, std::move(d->diagnosis), at_);
  return true;
}

const analyze::Finding* find_finding(const analyze::Diagnosis& d, std::string_view id, pid_t pid) {
  for (const auto& f : d.findings)
    if (f.id == id && (pid == 0 || (f.process && f.process->pid == pid))) return &f;
  return nullptr;
}

} // namespace sockdoctor::lab
