// Fuzzes the parsers of operator-typed text (--peer, --state, addresses, top's filter line): not
// from the kernel, but a crash on a typo is as bad as one on a hostile file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "analyze/socket_filter.hpp"
#include "analyze/top_model.hpp"
#include "core/address.hpp"
#include "core/tcp_state.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::text(data, size);
  (void)core::parse_address(text);
  (void)core::parse_state_word(text);
  std::string_view bad;
  (void)core::parse_state_list(text, &bad);
  (void)analyze::parse_peer(std::string(text));
  (void)analyze::parse_top_filter(text);
  return 0;
}
