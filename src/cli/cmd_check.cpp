// `sockdoctor check`: placeholder until the diagnosis lands.
#include <ostream>

#include "cli/commands.hpp"

namespace sockdoctor::cli {

CommandRunner add_check_command(CLI::App& app, Context&) {
  app.add_subcommand("check", "Diagnose this host (the default command)");
  return [](Context& ctx) {
    *ctx.err << "sockdoctor check: not implemented yet\n";
    return static_cast<int>(kExitUnknown);
  };
}

} // namespace sockdoctor::cli
