// `sockdoctor serve`: the HTTP server that exports the host model as Prometheus metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "serve/scraper.hpp"

namespace sockdoctor::serve {

// Chosen from the Prometheus "default port allocations" list (README, "Monitoring with
// Prometheus"): 9100-9999 is full, allocations go on above 10000.
inline constexpr std::uint16_t kDefaultPort = 10188;

struct ExporterOptions {
  std::string listen = "127.0.0.1:10188"; // HOST:PORT, [V6]:PORT; port 0 picks a free one
                                          // (kDefaultPort)
  ScraperOptions scraper;
  std::string web_config_file; // exporter-toolkit YAML; "" = plain HTTP without auth
  std::chrono::milliseconds connection_timeout{10000}; // whole life of one connection
  std::size_t threads = 16;                            // concurrent connections being served
  std::vector<std::string> scope_lines;                // the landing page's "what it watches"
  std::vector<std::string> missing_lines; // and "what it cannot see" (MissingPrivileges::lines)
  // Host the eBPF state register pinned at scraper.sampler.register_pin_root while serving
  // (exact ages, TIME_WAIT per closing process); when it cannot, say so and go on without it.
  bool host_register = true;
  std::ostream* err = nullptr; // start-up notes ("listening on ...")
};

struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
// "127.0.0.1:10188", "[::1]:10188", ":10188" (every address).
core::Result<ListenAddress> parse_listen_address(std::string_view text);

// Serves until SIGINT or SIGTERM. Errors: the address, the web config, or the certificate.
core::Result<void> run_exporter(const ExporterOptions& options);

} // namespace sockdoctor::serve
