// Inputs the fuzzers (fuzz/) found that broke a decoder, replayed as plain tests: they must decode
// or be rejected, and the ASan preset proves no byte outside the input is read.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "collect/sock_diag.hpp"

using namespace sockdoctor;

namespace {

std::vector<std::byte> bytes(std::initializer_list<std::uint8_t> list) {
  std::vector<std::byte> out;
  for (std::uint8_t b : list)
    out.push_back(std::byte{b});
  return out;
}

} // namespace

// A 22-byte message whose nlmsg_len (22) fits but whose padding (24) does not: the message counter
// that sizes the output stepped past the end and read beyond the buffer before the decoder
// rejected the message (heap-buffer-overflow, sock_diag_fuzz).
TEST(FuzzRegression, SockDiagUnpaddedLastMessageIsRejectedWithinTheInput) {
  const auto data = bytes({0x16, 0,    0,    0,    0,    0,    0,    0x1e, 0xff, 0xff, 0xff,
                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,    0,    0,    0});
  ASSERT_EQ(data.size(), 22u);
  std::vector<core::TcpSocket> out(1);
  const auto r = collect::decode_sock_diag(data, collect::SockDiagRequest{}, out);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unpadded"), std::string::npos) << r.error().message;
  EXPECT_EQ(out.size(), 1u);
}
