// Socket filter matching.
#include "analyze/socket_filter.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace sockdoctor::analyze {

core::Result<SocketFilter> build_socket_filter(const FilterArgs& a) {
  SocketFilter f;
  if (!a.states.empty()) {
    std::uint32_t mask = 0;
    for (const auto& s : a.states) {
      std::string_view bad;
      auto m = core::parse_state_list(s, &bad);
      if (!m) return core::fail(fmt::format("--state: unknown state or group '{}'", bad));
      mask |= *m;
    }
    f.state_mask = mask;
  }
  if (a.only4 && a.only6) return core::fail("-4 and -6 exclude each other");
  f.ipv4 = !a.only6;
  f.ipv6 = !a.only4;
  f.pids = a.pids;
  f.comms = a.comms;
  f.ports = a.ports;
  if (!a.peer.empty()) {
    auto p = parse_peer(a.peer);
    if (!p)
      return core::fail("--peer: expected ADDR, ADDR:PORT or [V6ADDR]:PORT, got '" + a.peer + "'");
    f.peer_addr = p->addr;
    f.peer_port = p->port;
  }
  return f;
}

bool SocketFilter::matches(const core::TcpSocket& s, const core::OwnerTable& owners) const {
  if (!(state_mask & core::state_bit(s.state))) return false;
  if (s.family() == core::Family::Ipv4 && !ipv4) return false;
  if (s.family() == core::Family::Ipv6 && !ipv6) return false;
  if (!ports.empty() && std::find(ports.begin(), ports.end(), s.local.port) == ports.end() &&
      std::find(ports.begin(), ports.end(), s.peer.port) == ports.end())
    return false;
  if (peer_addr && !(s.peer.addr == *peer_addr)) return false;
  if (peer_port && s.peer.port != *peer_port) return false;
  if (needs_owners()) {
    bool hit = false;
    for (const auto& ref : owners.owners_of(s.inode)) {
      const auto& p = owners.process(ref.process_index);
      const bool pid_ok = pids.empty() || std::find(pids.begin(), pids.end(), p.pid) != pids.end();
      const bool comm_ok =
          comms.empty() || std::find(comms.begin(), comms.end(), p.comm) != comms.end();
      if (pid_ok && comm_ok) {
        hit = true;
        break;
      }
    }
    if (!hit) return false;
  }
  return true;
}

std::optional<PeerSpec> parse_peer(const std::string& text) {
  std::string addr = text;
  std::optional<std::uint16_t> port;
  auto parse_port = [](std::string_view p) -> std::optional<std::uint16_t> {
    unsigned v = 0;
    auto r = std::from_chars(p.data(), p.data() + p.size(), v);
    if (r.ec != std::errc() || r.ptr != p.data() + p.size() || v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(v);
  };
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) return std::nullopt;
    addr = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return std::nullopt;
      port = parse_port(std::string_view(text).substr(close + 2));
      if (!port) return std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    addr = text.substr(0, colon);
    port = parse_port(std::string_view(text).substr(colon + 1));
    if (!port) return std::nullopt;
  }
  auto a = core::parse_address(addr);
  if (!a) return std::nullopt;
  return PeerSpec{*a, port};
}

} // namespace sockdoctor::analyze
