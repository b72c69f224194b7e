// IPv4/IPv6 addresses and endpoints as compact values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sockdoctor::core {

enum class Family : std::uint8_t { Unspec = 0, Ipv4 = 4, Ipv6 = 6 };

struct IpAddress {
  Family family = Family::Unspec;
  // Network byte order. IPv4 uses the first 4 bytes, the rest are zero.
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(std::uint32_t network_order);
  static IpAddress v6(const std::uint8_t (&b)[16]);
  bool is_loopback() const;    // 127/8, ::1, ::ffff:127.x
  bool is_unspecified() const; // 0.0.0.0 or ::
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Endpoint {
  IpAddress addr;
  std::uint16_t port = 0; // host byte order
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// "127.0.0.1", "::1", "::ffff:10.0.0.1" (inet_ntop forms). Writes into buf, returns the length.
std::size_t format_address(const IpAddress& a, char* buf, std::size_t size);
std::string to_string(const IpAddress& a);
// "127.0.0.1:80", "[::1]:80"; "*:*" style wildcards are not used: 0.0.0.0:0 prints as is.
std::string to_string(const Endpoint& e);

// Parses "1.2.3.4", "::1", "[::1]"; nullopt if not an address.
std::optional<IpAddress> parse_address(std::string_view text);

} // namespace sockdoctor::core
