// Placeholder until the subcommands land.
#include "cli/app.hpp"

namespace sockdoctor::cli {

int run(int, char**) { return 0; }

}  // namespace sockdoctor::cli
