// Fuzzes the decoder of the socket iterator's summary map (port_tuples entries: a 36-byte key and
// a 24-byte value, as bpf_map_lookup_elem hands them over). Byte 0 picks HZ and the key length.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "collect/bpf/tcp_sockets.h"
#include "collect/tcp_iter.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr int kHz[] = {100, 250, 300, 1000, 0, -5};
  const int hz = kHz[data[0] % 6];
  const auto in = fuzz::bytes(data + 1, size - 1);
  const std::size_t key = TCP_SOCKETS_TUPLE_KEY_SIZE, value = TCP_SOCKETS_TUPLE_VALUE_SIZE;
  for (std::size_t off = 0; off + key + value <= in.size(); off += key + value) {
    core::PortTupleCount t;
    if (collect::decode_port_tuple(in.subspan(off, key), in.subspan(off + key, value), hz, t))
      fuzz::require(t.time_wait > 0 || t.time_wait_left_max_ms == 0,
                    "timer range set without TIME_WAIT entries");
  }
  // Wrong sizes are refused, never read past.
  core::PortTupleCount t;
  fuzz::require(!collect::decode_port_tuple(in.first(std::min(in.size(), key - 1)),
                                            in.first(std::min(in.size(), value)), hz, t),
                "a short key decoded");
  return 0;
}
