// lab's whole interface to a composition root: plain options in, an outcome out (no CLI types).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sockdoctor::lab {

struct Options {
  std::string scenario;
  bool list = false;
  bool fast = false;
  bool json = false;
  std::string server = "auto"; // builtin | nginx | auto
  std::ostream* out = nullptr; // the timeline, the report, --list
  std::ostream* err = nullptr; // why a scenario could not run
  bool color = false;          // out is a terminal that wants colour
};

// How a run ended; the composition root turns it into an exit status.
struct Outcome {
  enum class Status {
    Passed,       // every check passed (or --list)
    ChecksFailed, // the kernel did not behave as described
    CouldNotRun,  // the scenario failed before it could finish
    Usage,        // no known scenario named
    NotPermitted, // not root, or --server nginx without nginx
    Interrupted,  // a stop signal arrived; its processes were killed
  };
  Status status = Status::Passed;
  int signal = 0; // Interrupted: the signal number
};

// The scenario names, in --list order ("close-wait", ...).
std::vector<std::string> scenario_names();

// Runs o.scenario (or prints the list) in a private network namespace; needs root.
Outcome run(const Options& o);

} // namespace sockdoctor::lab
