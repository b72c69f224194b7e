// Subcommand registration: each add_* adds its subcommand to the parser and returns its runner.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace sockdoctor::cli {

CommandRunner add_ls_command(CLI::App& app, Context& ctx);      // cmd_ls.cpp
CommandRunner add_check_command(CLI::App& app, Context& ctx);   // cmd_check.cpp (also the default)
CommandRunner add_explain_command(CLI::App& app, Context& ctx); // cmd_explain.cpp
CommandRunner add_top_command(CLI::App& app, Context& ctx);     // cmd_top.cpp
CommandRunner add_lab_command(CLI::App& app, Context& ctx);     // cmd_lab.cpp
CommandRunner add_trace_command(CLI::App& app, Context& ctx);   // cmd_trace.cpp
CommandRunner add_kill_command(CLI::App& app, Context& ctx);    // cmd_kill.cpp
CommandRunner add_serve_command(CLI::App& app, Context& ctx);   // cmd_serve.cpp
CommandRunner add_history_command(CLI::App& app, Context& ctx); // cmd_history.cpp

} // namespace sockdoctor::cli
