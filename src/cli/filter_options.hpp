// The socket-filter flags `ls` and `kill` share: one definition, so names and help never drift.
#pragma once

#include <CLI/CLI.hpp>

#include "analyze/socket_filter.hpp"
#include "cli/validators.hpp"

namespace sockdoctor::cli {

inline constexpr std::uint64_t kPidMaxLimit = 4194304; // PID_MAX_LIMIT: no PID is larger

// --state/-s, --pid/-p, --comm/-c, --port, --peer, -4, -6 into args.
inline void add_filter_options(CLI::App* cmd, analyze::FilterArgs& args) {
  cmd->add_option("-s,--state", args.states,
                  "Only these states or groups (comma list, repeatable)");
  cmd->add_option("-p,--pid", args.pids, "Only sockets held by this PID (repeatable)")
      ->check(integer_in(1, kPidMaxLimit, "a PID"));
  cmd->add_option("-c,--comm", args.comms,
                  "Only sockets held by a process with this name (repeatable)")
      ->check(not_empty("a process name"));
  cmd->add_option("--port", args.ports,
                  "Only sockets whose local or peer port is PORT (repeatable)")
      ->check(integer_in(1, 65535, "a port"));
  cmd->add_option("--peer", args.peer, "Only sockets connected to ADDR or ADDR:PORT ([v6]:port)")
      ->check(not_empty("ADDR, ADDR:PORT or [V6ADDR]:PORT"));
  cmd->add_flag("-4", args.only4, "IPv4 only");
  cmd->add_flag("-6", args.only6, "IPv6 only");
}

} // namespace sockdoctor::cli
