// Fuzzes the sysctl value parsers (kernel_settings) and the release parsers (osrelease).
#include <cstddef>
#include <cstdint>

#include "collect/kernel_config.hpp"
#include "collect/kernel_settings.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::text(data, size);
  (void)collect::parse_sysctl_long(text);
  (void)collect::parse_sysctl_int(text);
  if (const auto range = collect::parse_port_range(text)) {
    fuzz::require(range->low >= 1 && range->low <= range->high && range->high <= 65535,
                  "port range outside 1..65535 or reversed");
  }
  if (const auto reserved = collect::parse_reserved_ports(text)) {
    for (const auto& [lo, hi] : *reserved)
      fuzz::require(lo <= hi, "reserved range reversed");
  }
  (void)collect::parse_kernel_version(text);
  (void)collect::parse_kernel_sublevel(text);
  return 0;
}
