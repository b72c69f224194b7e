// What every subcommand gets: global options, output streams, and how to take a snapshot.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "collect/sampler.hpp"
#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/sample.hpp"

namespace CLI {
class App;
}

namespace sockdoctor::cli {

// Exit statuses, shared by all commands (README "Exit status").
enum ExitCode : int {
  kExitOk = 0,
  kExitWarning = 1,  // check: a warning finding
  kExitCritical = 2, // check: a critical finding
  kExitUnknown = 3,  // the command could not complete (monitoring-plugin UNKNOWN)
  kExitUsage = 64,   // bad command line (EX_USAGE)
  kExitNoPerm = 77,  // needs privileges it does not have (EX_NOPERM)
};

struct GlobalOptions {
  core::FsRoot root;           // --proc-root, --sys-root, --pods-log-root
  std::string replay_file;     // --replay FILE: decode recorded sock_diag replies instead of asking
  std::string record_file;     // --record FILE: also write the raw sock_diag replies to FILE
  std::string source = "auto"; // --source auto|netlink|bpf|proc
  std::string owner_scan = "auto";                          // --owner-scan auto|bpf|proc
  bool all_netns = false;                                   // --all-netns
  std::string register_pin_root = "/sys/fs/bpf/sockdoctor"; // --register DIR|off
  int verbose = 0;                                          // -v
};

struct Context {
  GlobalOptions global;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool out_is_tty = false;
  bool color = false;         // out is a terminal and NO_COLOR is unset
  bool dumb_terminal = false; // TERM=dumb: no cursor movement or attributes, plain lines only
};

// "sockdoctor CMD: message" on ctx.err, escaped like every terminal write (messages carry
// paths, process names and what the user typed). cmd "" gives "sockdoctor: message".
void error_line(const Context& ctx, std::string_view cmd, std::string_view message);

// The exit status for a command that could not complete because of `e`: 77 when a privilege is
// missing (unprivileged --all-netns, --owner-scan bpf without CAP_BPF), else 3 (UNKNOWN).
int exit_status_of(const core::Error& e);

// The sampler's options from the global command-line options.
collect::SamplerOptions sampler_options(const GlobalOptions& g);

// One sample through a Sampler made from the global options. Prints to ctx.err what the sample
// could not see (owners of other users' processes, once) and, with -v, how it was taken
// (fallbacks, processes that exited). `quiet_owners`: the command reports hidden owners itself.
core::Result<core::Sample>
take_sample(const Context& ctx, const collect::SampleRequest& req, bool quiet_owners = false);

// The notes a sample carries for stderr: the hidden-owners line (unless quiet_owners), and with
// verbose > 0 the collectors' notes. Each line is "sockdoctor: ..." (escaped, no newline).
std::vector<std::string>
sample_notes(const Context& ctx, const core::Sample& sample, bool quiet_owners);
void print_sample_notes(const Context& ctx, const core::Sample& sample, bool quiet_owners);

// A subcommand: registered on the parser, run after a successful parse.
using CommandRunner = std::function<int(Context&)>;

} // namespace sockdoctor::cli
