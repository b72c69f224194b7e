// `sockdoctor top`'s loop: sample every interval, fold into the live view, and show it as lines
// (or NDJSON) on a stream, or as a full screen that reads keys between samples.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <thread>

#include "collect/live_sampler.hpp"
#include "render/escape.hpp"
#include "render/lines.hpp"
#include "render/notes.hpp"
#include "render/top_frame.hpp"
#include "top/keys.hpp"
#include "top/terminal.hpp"
#include "top/top.hpp"

namespace sockdoctor::top {
namespace {

using SteadyClock = std::chrono::steady_clock;

void error_line(const Options& o, std::string_view message) {
  render::write_notice(*o.err, "sockdoctor top: ", message);
}

Outcome failed(core::ErrorCode code = core::ErrorCode::Failed) {
  return {Outcome::Status::Failed, code, 0};
}

// Says once what the samples could not see (the first note a sample carries).
class NoteOnce {
public:
  std::string take(const Options& o, const core::Sample& sample) {
    if (given_) return "";
    auto lines = render::sample_note_lines(sample, o.verbose, false, ::geteuid() == 0);
    if (lines.empty()) return "";
    given_ = true;
    return lines.front();
  }

private:
  bool given_ = false;
};

// One interval's work: sample, fold into the view, tell the sampler what it cost. Returns the
// sample's note, if one is due.
core::Result<std::string>
step(const Options& o, collect::LiveSampler& sampler, analyze::LiveView& live, NoteOnce& notes) {
  const double before = collect::process_cpu_seconds();
  auto sample = sampler.next();
  if (!sample) return tl::unexpected(sample.error());
  const bool complete = sample->is_complete();
  std::string note = notes.take(o, *sample);
  live.add_sample(std::move(*sample));
  sampler.record_cost(complete, collect::process_cpu_seconds() - before);
  return note;
}

collect::LiveSampler make_sampler(const Options& o) {
  collect::LiveSamplerOptions s;
  s.interval_seconds = o.interval;
  s.owners = o.owners;
  s.fixed_detail_every = o.detail_every;
  return collect::LiveSampler(o.sampler, s);
}

// Called after a sample: fixed rate while samples are quicker than the interval; after a slow one
// (a huge host), a full interval of rest, so that sampling never runs back to back.
SteadyClock::time_point next_deadline(SteadyClock::time_point prev, double interval) {
  const auto step =
      std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(interval));
  const auto now = SteadyClock::now();
  return prev + step < now ? now + step : prev + step;
}

Outcome run_lines(const Options& o) {
  collect::LiveSampler sampler = make_sampler(o);
  NoteOnce notes;
  analyze::LiveView live;
  live.set_query(o.query);
  const render::LineOptions lo{.interval_seconds = o.interval};
  auto deadline = SteadyClock::now();
  int failures = 0;
  for (std::uint64_t i = 0; o.count == 0 || i < o.count; ++i) {
    if (i > 0) std::this_thread::sleep_until(deadline);
    auto r = step(o, sampler, live, notes);
    deadline = next_deadline(deadline, o.interval);
    if (r && !r->empty()) *o.err << *r << "\n";
    if (!r) {
      error_line(o, r.error().message);
      if (live.empty()) return failed(r.error().code);
      if (++failures >= 3) return failed();
      continue;
    }
    failures = 0;
    const auto m = live.model();
    *o.out << (o.json ? render::format_top_json(m, lo) : render::format_top_line(m, lo));
    o.out->flush();
    if (!*o.out) return failed();
  }
  return {};
}

// The full screen: redrawn after every sample, key and resize.
class Screen {
public:
  Screen(const Options& o, bool keys) : o_(o), keys_(keys), sampler_(make_sampler(o)) {
    view_.interval_seconds = o.interval;
    view_.query = o.query;
    view_.filter_text = o.filter_text;
    live_.set_query(o.query);
  }

  Outcome run(const TerminalGuard& guard) {
    draw();
    auto deadline = SteadyClock::now();
    std::uint64_t taken = 0;
    while (g_stop_signal == 0) {
      if (!view_.paused && SteadyClock::now() >= deadline) {
        if (auto r = sample()) return *r;
        deadline = next_deadline(deadline, o_.interval);
        if (o_.count != 0 && ++taken >= o_.count) return {};
      }
      if (auto r = wait(guard, deadline)) return *r;
    }
    return {Outcome::Status::Interrupted, core::ErrorCode::Interrupted, g_stop_signal};
  }

  const std::string& error() const { return error_; }

private:
  // Returns an outcome to stop with, or none to go on.
  std::optional<Outcome> sample() {
    auto r = step(o_, sampler_, live_, notes_);
    if (r && !r->empty()) view_.message = *r;
    if (!r) {
      if (live_.empty() || ++failures_ >= 3) {
        error_ = r.error().message;
        return failed(live_.empty() ? r.error().code : core::ErrorCode::Failed);
      }
      view_.message = "sampling failed: " + r.error().message;
    } else {
      failures_ = 0;
    }
    draw();
    return std::nullopt;
  }

  std::optional<Outcome> wait(const TerminalGuard& guard, SteadyClock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - SteadyClock::now());
    timespec ts{static_cast<time_t>(std::max<long long>(left.count(), 0) / 1'000'000'000),
                static_cast<long>(std::max<long long>(left.count(), 0) % 1'000'000'000)};
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    const int n = ::ppoll(&pfd, keys_ ? 1 : 0, view_.paused ? nullptr : &ts, &guard.wait_mask());
    if (g_resized) {
      g_resized = 0;
      draw();
    }
    if (n <= 0) return std::nullopt;
    if (pfd.revents & (POLLHUP | POLLERR)) keys_ = false; // stdin closed: signals only
    if (!(pfd.revents & POLLIN)) return std::nullopt;
    return read_keys();
  }

  std::optional<Outcome> read_keys() {
    unsigned char buf[64];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
      if (n == 0) keys_ = false;
      return std::nullopt;
    }
    // An escape sequence (arrow keys, mouse) arrives in one read: ignore it, but a lone Esc is
    // a key (it cancels the prompt).
    if (buf[0] == 27 && n > 1) return std::nullopt;
    for (ssize_t i = 0; i < n; ++i) {
      switch (apply_key(view_, buf[i])) {
      case KeyAction::Quit:
        return Outcome{};
      case KeyAction::QueryChanged:
        live_.set_query(view_.query);
        break;
      default:
        break;
      }
    }
    draw();
    return std::nullopt;
  }

  void draw() {
    const auto size = terminal_size();
    const auto frame = render::render_top_frame(live_.model(), view_, size, o_.color);
    write_all(STDOUT_FILENO, frame.data(), frame.size());
  }

  std::string error_;
  const Options& o_;
  bool keys_;
  collect::LiveSampler sampler_;
  NoteOnce notes_;
  analyze::LiveView live_;
  render::TopViewState view_;
  int failures_ = 0;
};

Outcome run_screen(const Options& o) {
  const bool keys = ::isatty(STDIN_FILENO) == 1;
  Screen screen(o, keys);
  Outcome r = failed();
  std::string error;
  {
    TerminalGuard guard(keys);
    try {
      r = screen.run(guard);
    } catch (const std::exception& e) {
      error = std::string("internal error: ") + e.what();
    }
  } // the terminal is back from here on
  if (!screen.error().empty()) error = screen.error();
  if (!error.empty()) {
    error_line(o, error);
    // Only a missing privilege keeps its own status once the screen has been up.
    const bool denied =
        r.status == Outcome::Status::Failed && r.code == core::ErrorCode::PermissionDenied;
    return failed(denied ? core::ErrorCode::PermissionDenied : core::ErrorCode::Failed);
  }
  return r;
}

} // namespace

Outcome run(const Options& o) {
  return o.screen ? run_screen(o) : run_lines(o);
}

} // namespace sockdoctor::top
