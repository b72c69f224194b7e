// User-space socket filters for `ls` and friends (the state filter also goes to the kernel).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/address.hpp"
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

// Parses "ADDR", "ADDR:PORT", "[V6]:PORT", "V6"; nullopt if malformed.
struct PeerSpec {
  core::IpAddress addr;
  std::optional<std::uint16_t> port;
};
std::optional<PeerSpec> parse_peer(const std::string& text);

} // namespace sockdoctor::analyze
