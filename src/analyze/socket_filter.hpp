// User-space socket filters for `ls` and friends (the state filter also goes to the kernel).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/snapshot.hpp"

namespace sockdoctor::analyze {

struct SocketFilter {
  std::uint32_t state_mask = core::kAllStatesMask;
  bool ipv4 = true;
  bool ipv6 = true;
  std::vector<std::uint16_t> ports;         // local or peer port matches
  std::optional<core::IpAddress> peer_addr; // --peer ADDR[:PORT]
  std::optional<std::uint16_t> peer_port;
  std::vector<std::int32_t> pids; // owner pid
  std::vector<std::string> comms; // owner comm, exact match

  bool needs_owners() const { return !pids.empty() || !comms.empty(); }
  bool matches(const core::TcpSocket& s, const core::OwnerTable& owners) const;
};

// The filter as typed on a command line (`ls`, `kill`): same flag names, same meaning.
struct FilterArgs {
  std::vector<std::string> states;  // --state: words and groups, comma lists
  std::vector<std::int32_t> pids;   // --pid
  std::vector<std::string> comms;   // --comm
  std::vector<std::uint16_t> ports; // --port
  std::string peer;                 // --peer ADDR[:PORT]
  bool only4 = false;               // -4
  bool only6 = false;               // -6
};

// Checks and converts the typed filter; the error message names the flag ("--state: ...").
core::Result<SocketFilter> build_socket_filter(const FilterArgs& args);

// Parses "ADDR", "ADDR:PORT", "[V6]:PORT", "V6"; nullopt if malformed.
struct PeerSpec {
  core::IpAddress addr;
  std::optional<std::uint16_t> port;
};
std::optional<PeerSpec> parse_peer(const std::string& text);

} // namespace sockdoctor::analyze
