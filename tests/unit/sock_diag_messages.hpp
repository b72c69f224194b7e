// Netlink sock_diag messages built by hand, and the recorded dump fixtures, for the sock_diag
// decoder tests (sock_diag_test.cpp, sock_diag_malformed_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "collect/sock_diag.hpp"
#include "core/snapshot.hpp"

namespace sockdoctor::testing {

inline const std::string kNetlink = std::string(SOCKDOCTOR_FIXTURES) + "/netlink/";

inline std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

inline std::vector<core::TcpSocket> decode_ok(std::span<const std::byte> data,
                                              collect::SockDiagRequest f = {}) {
  std::vector<core::TcpSocket> out;
  auto r = collect::decode_sock_diag(data, f, out);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return out;
}

// Every state bit, CLOSE included: what ss -a shows.
inline collect::SockDiagRequest everything() {
  collect::SockDiagRequest f;
  f.state_mask = ~0u;
  return f;
}

// --- building messages by hand ------------------------------------------------------------------

inline void put(std::vector<std::byte>& buf, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  buf.insert(buf.end(), b, b + n);
  while (buf.size() % 4)
    buf.push_back(std::byte{0});
}

inline void put_header(std::vector<std::byte>& buf,
                       std::uint32_t len,
                       std::uint16_t type,
                       std::uint16_t flags = NLM_F_MULTI) {
  nlmsghdr h{};
  h.nlmsg_len = len;
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  put(buf, &h, sizeof h);
}

inline inet_diag_msg make_msg(std::uint8_t state, std::uint16_t sport, std::uint16_t dport) {
  inet_diag_msg m{};
  m.idiag_family = AF_INET;
  m.idiag_state = state;
  m.id.idiag_sport = htons(sport);
  m.id.idiag_dport = htons(dport);
  m.id.idiag_src[0] = htonl(0x7f000001);
  m.id.idiag_dst[0] = htonl(0x7f000002);
  m.idiag_inode = 4242;
  return m;
}

// One SOCK_DIAG_BY_FAMILY message, optionally with one attribute of `attr_len` payload bytes.
inline void put_diag(std::vector<std::byte>& buf,
                     const inet_diag_msg& m,
                     std::uint16_t attr_type = 0,
                     const void* attr = nullptr,
                     std::size_t attr_len = 0,
                     std::uint16_t flags = 0) {
  const std::size_t attr_total = attr ? NLA_ALIGN(NLA_HDRLEN + attr_len) : 0;
  put_header(buf, static_cast<std::uint32_t>(NLMSG_HDRLEN + sizeof m + attr_total),
             SOCK_DIAG_BY_FAMILY, NLM_F_MULTI | flags);
  put(buf, &m, sizeof m);
  if (attr) {
    nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + attr_len), attr_type};
    put(buf, &a, sizeof a);
    put(buf, attr, attr_len);
  }
}

inline void
put_done(std::vector<std::byte>& buf, int status = 0, std::uint16_t flags = NLM_F_MULTI) {
  put_header(buf, NLMSG_HDRLEN + sizeof status, NLMSG_DONE, flags);
  put(buf, &status, sizeof status);
}

inline std::vector<std::byte> one_socket_dump() {
  std::vector<std::byte> buf;
  put_diag(buf, make_msg(8, 5001, 40002));
  put_done(buf);
  return buf;
}

// Decoding must fail, leave `out` as it was, and name the problem.
inline void expect_error(std::span<const std::byte> data, const std::string& needle, int err = -1) {
  std::vector<core::TcpSocket> out(1);
  auto r = collect::decode_sock_diag(data, collect::SockDiagRequest{}, out);
  ASSERT_FALSE(r) << "expected an error containing '" << needle << "'";
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  if (err >= 0) {
    EXPECT_EQ(r.error().sys_errno, err);
  }
  EXPECT_EQ(out.size(), 1u);
}

} // namespace sockdoctor::testing
