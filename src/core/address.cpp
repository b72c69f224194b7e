// Address formatting and parsing (inet_ntop/inet_pton, with a fast path for IPv4).
#include "core/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace sockdoctor::core {

IpAddress IpAddress::v4(std::uint32_t network_order) {
  IpAddress a;
  a.family = Family::Ipv4;
  std::memcpy(a.bytes.data(), &network_order, 4);
  return a;
}

IpAddress IpAddress::v6(const std::uint8_t (&b)[16]) {
  IpAddress a;
  a.family = Family::Ipv6;
  std::memcpy(a.bytes.data(), b, 16);
  return a;
}

bool IpAddress::is_loopback() const {
  if (family == Family::Ipv4) return bytes[0] == 127;
  if (family != Family::Ipv6) return false;
  static constexpr std::uint8_t kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::memcmp(bytes.data(), kLoop6, 16) == 0) return true;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), kMapped, 12) == 0 && bytes[12] == 127;
}

bool IpAddress::is_unspecified() const {
  for (auto b : bytes)
    if (b != 0) return false;
  return true;
}

std::size_t format_address(const IpAddress& a, char* buf, std::size_t size) {
  if (a.family == Family::Ipv4) {
    // Hand-rolled: this runs once per socket per render, inet_ntop is measurably slower.
    char tmp[16];
    std::size_t n = 0;
    for (int i = 0; i < 4; ++i) {
      unsigned v = a.bytes[static_cast<std::size_t>(i)];
      if (v >= 100) tmp[n++] = static_cast<char>('0' + v / 100);
      if (v >= 10) tmp[n++] = static_cast<char>('0' + (v / 10) % 10);
      tmp[n++] = static_cast<char>('0' + v % 10);
      if (i < 3) tmp[n++] = '.';
    }
    if (n >= size) return 0;
    std::memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
  }
  if (a.family == Family::Ipv6) {
    if (inet_ntop(AF_INET6, a.bytes.data(), buf, static_cast<socklen_t>(size)) == nullptr) return 0;
    return std::strlen(buf);
  }
  if (size < 2) return 0;
  buf[0] = '?';
  buf[1] = '\0';
  return 1;
}

std::string to_string(const IpAddress& a) {
  char buf[INET6_ADDRSTRLEN];
  auto n = format_address(a, buf, sizeof buf);
  return std::string(buf, n);
}

std::string to_string(const Endpoint& e) {
  std::string s = to_string(e.addr);
  if (e.addr.family == Family::Ipv6) s = "[" + s + "]";
  return s + ":" + std::to_string(e.port);
}

std::optional<IpAddress> parse_address(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
    a.family = Family::Ipv4;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    a.family = Family::Ipv6;
    return a;
  }
  return std::nullopt;
}

} // namespace sockdoctor::core
