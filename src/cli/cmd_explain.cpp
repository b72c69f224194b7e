// `sockdoctor explain`: placeholder until the kernel explainer lands.
#include <ostream>

#include "cli/commands.hpp"

namespace sockdoctor::cli {

CommandRunner add_explain_command(CLI::App& app, Context&) {
  app.add_subcommand("explain", "Explain the kernel settings that govern stuck sockets");
  return [](Context& ctx) {
    *ctx.err << "sockdoctor explain: not implemented yet\n";
    return static_cast<int>(kExitUnknown);
  };
}

} // namespace sockdoctor::cli
