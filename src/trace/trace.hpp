// trace's whole interface to a composition root: plain options in, an outcome out (no CLI types).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "collect/state_register.hpp"
#include "core/fs_root.hpp"

namespace sockdoctor::trace {

struct Options {
  std::vector<std::string> states; // --state as typed (comma lists of states or groups)
  std::vector<std::uint16_t> ports;
  std::vector<std::int32_t> pids;
  std::vector<std::string> comms;
  std::string netns; // an inode, /run/netns/NAME or /proc/PID/ns/net
  std::string ring = "4M";
  std::string pin_root = collect::kRegisterPinRoot;
  std::uint32_t entries = collect::kRegisterDefaultEntries;
  double duration = 0;     // seconds; 0 = until stopped
  std::uint64_t count = 0; // stop after this many shown transitions; 0 = no limit
  bool json = false;
  bool quiet = false;
  bool pin = false;
  bool no_header = false;
  bool register_only = false; // host the register, stream nothing (what `serve` does)
  core::FsRoot root;
  int verbose = 0;
  std::ostream* out = nullptr; // the transitions and the summary
  std::ostream* err = nullptr; // errors, lost events, what the register could not do
};

// How a run ended; the composition root turns it into an exit status.
struct Outcome {
  enum class Status {
    Done,         // stopped by a signal, a closed pipe, --duration or --count; summary written
    Usage,        // a bad --state, --netns, --ring-size or --entries
    NotPermitted, // the register could not be loaded: privileges, or no eBPF here
    Failed,       // the register failed while streaming, or could not start
  };
  Status status = Status::Done;
};

// Loads the state register, streams what o selects until stopped, then writes the summary.
Outcome run(const Options& o);

} // namespace sockdoctor::trace
