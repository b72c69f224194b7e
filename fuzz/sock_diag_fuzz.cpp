// Fuzzes decode_sock_diag: concatenated netlink replies (a live dump, an `ss -D` or --record file).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "collect/sock_diag.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::bytes(data, size);
  // Everything, as `ls` asks; then one family and a state subset, as `ls --state` filters.
  collect::SockDiagRequest narrow;
  narrow.ipv6 = false;
  narrow.state_mask = size > 0 ? 0x0fffu & (data[0] * 0x0101u) : 0u;
  for (const collect::SockDiagRequest& filter : {collect::SockDiagRequest{}, narrow}) {
    std::vector<core::TcpSocket> out(1); // a socket from an earlier dump
    const auto stats = collect::decode_sock_diag(in, filter, out);
    // Header: "on error `out` is left as it was"; and a success holds at least one NLMSG_DONE.
    if (!stats) fuzz::require(out.size() == 1, "sock_diag error left decoded sockets behind");
    if (stats) fuzz::require(stats->dumps >= 1, "sock_diag success without a complete dump");
    if (stats) fuzz::require(out.size() - 1 <= stats->messages, "more sockets than messages");
  }
  return 0;
}
