// top's whole interface to a composition root: plain options in, an outcome out (no CLI types).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "analyze/top_model.hpp"
#include "collect/sampler.hpp"
#include "core/error.hpp"

namespace sockdoctor::top {

struct Options {
  collect::SamplerOptions sampler;
  double interval = 1.0;   // seconds between samples
  bool screen = false;     // full screen (a terminal that can move the cursor), else lines
  bool json = false;       // lines mode: NDJSON instead of one text line per interval
  std::uint64_t count = 0; // 0: until quit
  bool owners = true;
  int detail_every = 0;        // fixed detail cadence for tests and benchmarks; 0: adaptive
  analyze::TopQuery query;     // the initial filter and sort
  std::string filter_text;     // the filter as typed (the prompt starts from it)
  int verbose = 0;             // -v: the collectors' notes too
  std::ostream* out = nullptr; // lines mode; the screen writes to the terminal (stdout) itself
  std::ostream* err = nullptr;
  bool color = false;
};

// How a run ended; the composition root turns it into an exit status.
struct Outcome {
  enum class Status {
    Done,        // --count intervals, or q
    Failed,      // sampling (or the output) failed; `code` says how
    Interrupted, // a stop signal arrived (full screen): `signal`
  };
  Status status = Status::Done;
  core::ErrorCode code = core::ErrorCode::Failed;
  int signal = 0;
};

// Samples every o.interval and shows each: the live screen, or lines on o.out.
Outcome run(const Options& o);

} // namespace sockdoctor::top
