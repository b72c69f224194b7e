// Fuzzes the texts the lab reads from its peers: HTTP response heads (nginx or the built-in
// server), nginx -v output, and the monotonic stamps its children report.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.hpp"
#include "lab/lab.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::text(data, size);
  if (const auto head = lab::parse_response_head(text)) {
    fuzz::require(head->header_bytes <= size, "response header longer than the data");
  }
  (void)lab::parse_nginx_version(text);
  (void)lab::parse_mono_stamp(text);
  return 0;
}
