// Fuzzes the parsers of /proc/net/{sockstat,sockstat6,netstat,snmp}.
#include <cstddef>
#include <cstdint>

#include "collect/proc_counters.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::text(data, size);
  for (const char* prefix : {"Tcp", "TcpExt", "IpExt", ""})
    (void)collect::parse_proc_net_pairs(text, prefix);
  (void)collect::parse_sockstat_tcp(text);
  (void)collect::parse_sockstat6_tcp_inuse(text);
  return 0;
}
