// kill's whole interface to a composition root: plain options in, an outcome out (no CLI types).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "analyze/socket_filter.hpp"
#include "collect/sampler.hpp"

namespace sockdoctor::kill {

struct Options {
  analyze::FilterArgs filter; // the flags of `ls`
  std::string older_than;     // a duration as typed, or ""
  std::vector<std::string> netns;
  std::string audit_file;
  double rate = 50; // destroys per second at most
  bool yes = false; // act; without it a dry run
  bool json = false;
  bool wide = false;
  collect::SamplerOptions sampler; // from the global options (--all-netns, --replay, --source)
  int verbose = 0;
  std::ostream* out = nullptr; // the report (dry run or results)
  std::ostream* err = nullptr; // what the sample missed, what could not be done
};

// How a run ended; the composition root turns it into an exit status.
struct Outcome {
  enum class Status {
    Done,         // every matched socket is gone (destroyed or already gone), or a dry run
    SomeLeft,     // some were left alone (stale, state_changed, not_supported)
    Usage,        // no selection, a bad one, --rate <= 0, or a source without socket cookies
    NotPermitted, // a destroy was not permitted
    Failed,       // sampling, the audit or a destroy failed, or the report could not be written
  };
  Status status = Status::Done;
};

// Samples what o selects, plans, destroys (with o.yes), audits each action and reports on o.out.
Outcome run(const Options& o);

} // namespace sockdoctor::kill
