// Composition root: parses the command line and runs a subcommand. Returns the process exit status.
#pragma once

namespace sockdoctor::cli {

int run(int argc, char** argv);

} // namespace sockdoctor::cli
