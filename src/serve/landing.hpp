// The plain landing page at "/": links, version, what the exporter watches and cannot see.
#pragma once

#include <string>
#include <vector>

namespace sockdoctor::serve {

struct LandingFacts {
  std::string version;
  std::vector<std::string> scope;   // what it watches, one line each
  std::vector<std::string> missing; // what it cannot see, one line each
};

std::string landing_page(const LandingFacts& facts);

} // namespace sockdoctor::serve
