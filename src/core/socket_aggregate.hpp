// Sockets counted in the kernel instead of listed (the socket iterator's summary mode): what the
// rules read of the sockets they are no longer given — counts per state, TIME_WAIT entries on
// listening and ephemeral ports, and per destination the sockets on ephemeral ports.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/address.hpp"
#include "core/tcp_state.hpp"

namespace sockdoctor::core {

// Aggregated sockets on an ephemeral local port toward one destination, from one source address.
struct PortTupleCount {
  std::uint32_t netns = 0; // 0 = sockdoctor's own namespace, as TcpSocket::netns_ino
  IpAddress source;
  Endpoint destination;
  std::uint64_t live = 0;      // connections (ESTABLISHED with an fd)
  std::uint64_t time_wait = 0; // TIME_WAIT entries
  // Timer left on the TIME_WAIT entries (valid when time_wait > 0): the oldest's and youngest's.
  std::uint32_t time_wait_left_min_ms = 0;
  std::uint32_t time_wait_left_max_ms = 0;
};

struct SocketAggregate {
  // States some of whose sockets are counted here instead of listed. Sockets without a struct
  // socket (orphans, not yet accepted) are always listed, whatever their state.
  std::uint32_t states = 0;
  std::array<std::uint64_t, kMaxTcpState + 1> counts{}; // the aggregated sockets, per state
  std::uint64_t time_wait_incoming = 0; // aggregated TIME_WAIT entries on a listening port
  std::uint64_t time_wait_outgoing = 0; // and on an ephemeral port
  std::uint32_t netns = 0;              // the namespace they belong to (0: sockdoctor's own)
  std::vector<PortTupleCount> tuples;

  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto c : counts)
      n += c;
    return n;
  }
};

} // namespace sockdoctor::core
