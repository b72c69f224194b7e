// Fuzzes what `serve` and `history` parse from operators and config files: the exporter-toolkit
// web config (YAML), --listen addresses and durations (--since, --retention). The HTTP request
// line and headers are parsed by cpp-httplib; the serve load test covers malformed requests.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/duration.hpp"
#include "fuzz_util.hpp"
#include "serve/exporter.hpp"
#include "serve/web_config.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::text(data, size);
  // A config that parses must name files inside the base dir or absolute ones: never read here
  // (the base dir does not exist), so only the parser runs.
  (void)serve::parse_web_config(text, "/nonexistent-sockdoctor-fuzz");
  (void)serve::parse_listen_address(text);
  if (auto d = core::parse_duration(text)) fuzz::require(*d >= 0, "durations are never negative");
  return 0;
}
