// Fuzzes decode_proc_net_tcp: the text of /proc/net/tcp and tcp6 (the fallback without sock_diag).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "collect/proc_net_tcp.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::text(data, size);
  for (const core::Family family : {core::Family::Ipv4, core::Family::Ipv6}) {
    std::vector<core::TcpSocket> out(1);
    const auto done = collect::decode_proc_net_tcp(text, family, collect::SockDiagRequest{}, out);
    if (!done) fuzz::require(out.size() == 1, "proc_net_tcp error left decoded rows behind");
    for (std::size_t i = 1; i < out.size(); ++i) {
      fuzz::require(!out[i].has_info && out[i].family() == family, "row of another kind");
    }
  }
  return 0;
}
