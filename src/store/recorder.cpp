// record_every: sample, model, record, on a fixed schedule until stopped.
#include "store/recorder.hpp"

#include <chrono>
#include <memory>
#include <thread>

#include "analyze/host_model.hpp"

namespace sockdoctor::store {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Sleeps until `deadline` or a stop.
void sleep_until(SteadyClock::time_point deadline, const std::function<bool()>& stopped) {
  while (!stopped() && SteadyClock::now() < deadline)
    std::this_thread::sleep_for(std::min<SteadyClock::duration>(deadline - SteadyClock::now(),
                                                                std::chrono::milliseconds(100)));
}

} // namespace

core::Result<void> record_every(const RecorderOptions& o, const std::function<bool()>& stopped) {
  auto writer = HistoryWriter::open(o.db, o.writer);
  if (!writer) return tl::unexpected(writer.error());
  if (auto r = writer->note_start(std::chrono::system_clock::now()); !r) return r;
  collect::Sampler sampler(o.sampler);
  collect::SampleRequest req;
  req.owners = o.owners;
  const auto period = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(o.writer.interval_s));
  auto deadline = SteadyClock::now();
  for (std::uint64_t n = 0; !stopped() && (!o.count || n < *o.count); ++n) {
    if (n > 0) sleep_until(deadline, stopped);
    if (stopped()) break;
    deadline += period;
    // The interval's time is when its sockets were listed, not when the owner scan ended.
    const auto taken = std::chrono::system_clock::now();
    auto sample = sampler.take(req);
    if (!sample) return tl::unexpected(sample.error());
    if (!sample->kernel) sample->kernel = core::KernelSettings{};
    const auto model =
        analyze::build_host_model(std::make_shared<const core::Sample>(std::move(*sample)));
    if (auto r = writer->record(model, taken); !r) return r;
  }
  return {};
}

} // namespace sockdoctor::store
