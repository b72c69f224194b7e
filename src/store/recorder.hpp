// A plain recorder: samples this host every interval into the history database (what `history
// record` runs for tests and demos; serve records through its own sampling thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "collect/sampler.hpp"
#include "core/error.hpp"
#include "store/history_writer.hpp"

namespace sockdoctor::store {

struct RecorderOptions {
  std::string db;
  WriterOptions writer;               // writer.interval_s is the period
  std::optional<std::uint64_t> count; // none: until stopped
  collect::SamplerOptions sampler;
  bool owners = true;
};

// Records a run start, then one interval per period until `stopped()` (asked between and
// during the waits) or o.count intervals. A sample under way completes and is recorded.
core::Result<void> record_every(const RecorderOptions& o, const std::function<bool()>& stopped);

} // namespace sockdoctor::store
