// Fuzzes /proc/config.gz decoding: gunzip (bounded: a bomb must stop at the limit) then the parser
// of the kernel .config text. Inputs that are not gzip still exercise the text parser.
#include <cstddef>
#include <cstdint>
#include <string>

#include "collect/kernel_config.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

namespace {
// Small enough that libFuzzer finds outputs over it; gunzip must fail then, not truncate.
constexpr std::size_t kMaxOutput = 64 * 1024;
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::text(data, size);
  (void)collect::parse_kernel_config(text);
  if (const auto inflated = collect::gunzip(text, kMaxOutput)) {
    fuzz::require(inflated->size() <= kMaxOutput, "gunzip exceeded its output bound");
    (void)collect::parse_kernel_config(*inflated);
  }
  return 0;
}
