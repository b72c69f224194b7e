// What every subcommand gets: global options, output streams, and how to take a snapshot.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/snapshot.hpp"

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
  core::FsRoot root;           // --proc-root, --sys-root
  std::string replay_file;     // --replay FILE: decode recorded sock_diag replies instead of asking
  std::string record_file;     // --record FILE: also write the raw sock_diag replies to FILE
  std::string source = "auto"; // --source auto|netlink|proc
  std::string owner_scan = "auto"; // --owner-scan auto|bpf|proc
  bool all_netns = false;          // --all-netns
  int verbose = 0;                 // -v
};

struct Context {
  GlobalOptions global;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool out_is_tty = false;
  bool color = false; // out is a terminal and NO_COLOR is unset
};

struct SnapshotRequest {
  std::uint32_t state_mask = core::kAllStatesMask; // filtered in the kernel where possible
  bool ipv4 = true;
  bool ipv6 = true;
  bool owners = true;             // scan /proc (or BPF) for owning processes
  bool tcp_info = true;           // ask for tcp_info (INET_DIAG_INFO)
  bool note_hidden_owners = true; // say on stderr what the owner scan could not see; commands
                                  // that report it themselves (check) turn this off
};

// Takes a snapshot according to the global options (live, replayed, /proc/net/tcp fallback).
// Prints the one-line notes about what could not be seen (unprivileged runs) to ctx.err.
core::Result<core::Snapshot> take_snapshot(const Context& ctx, const SnapshotRequest& req);

// A subcommand: registered on the parser, run after a successful parse.
using CommandRunner = std::function<int(Context&)>;

} // namespace sockdoctor::cli
