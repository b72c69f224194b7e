// Parses /proc/net/tcp{,6} rows (get_tcp4_sock, get_timewait4_sock, get_openreq4 formats).
#include "collect/proc_net_tcp.hpp"

#include "collect/fs_read.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace sockdoctor::collect {
namespace {

using core::fail;
using core::Result;

// tm->when is printed in clock_t units, and USER_HZ is 100 on every architecture's ABI.
constexpr std::uint64_t kMsPerClockTick = 10;

// Splits a line into whitespace-separated tokens without allocating.
class Tokens {
public:
  explicit Tokens(std::string_view line) : rest_(line) {}
  std::string_view next() {
    std::size_t i = 0;
    while (i < rest_.size() && (rest_[i] == ' ' || rest_[i] == '\t'))
      ++i;
    std::size_t j = i;
    while (j < rest_.size() && rest_[j] != ' ' && rest_[j] != '\t')
      ++j;
    std::string_view tok = rest_.substr(i, j - i);
    rest_.remove_prefix(j);
    return tok;
  }

private:
  std::string_view rest_;
};

bool parse_hex(std::string_view s, std::uint64_t& v) {
  if (s.empty() || s.size() > 16) return false;
  v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (c >= 'A' && c <= 'F')
      d = static_cast<unsigned>(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else
      return false;
    v = v << 4 | d;
  }
  return true;
}

bool parse_dec(std::string_view s, std::uint64_t& v) {
  if (s.empty() || s.size() > 19) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return true;
}

// "HEX:HEX", as in tx_queue:rx_queue and tr:tm->when.
bool parse_hex_pair(std::string_view s, std::uint64_t& a, std::uint64_t& b) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  return parse_hex(s.substr(0, colon), a) && parse_hex(s.substr(colon + 1), b);
}

// The kernel prints each 32-bit word of the address as a host-endian integer (%08X), so the
// bytes of each word come back by storing the parsed value in host order.
bool parse_endpoint(std::string_view s, core::Family family, core::Endpoint& ep) {
  const std::size_t words = family == core::Family::Ipv4 ? 1 : 4;
  auto colon = s.find(':');
  if (colon != words * 8) return false;
  for (std::size_t w = 0; w < words; ++w) {
    std::uint64_t v;
    if (!parse_hex(s.substr(w * 8, 8), v)) return false;
    const auto word = static_cast<std::uint32_t>(v);
    std::memcpy(ep.addr.bytes.data() + w * 4, &word, 4);
  }
  std::uint64_t port;
  std::string_view port_text = s.substr(colon + 1);
  if (port_text.size() != 4 || !parse_hex(port_text, port)) return false;
  ep.addr.family = family;
  ep.port = static_cast<std::uint16_t>(port);
  return true;
}

core::TcpState decode_state(std::uint64_t st) {
  if (st >= 1 && st <= core::kMaxTcpState) return static_cast<core::TcpState>(st);
  return core::TcpState::Unknown;
}

std::uint32_t clamp32(std::uint64_t v) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(v, std::numeric_limits<std::uint32_t>::max()));
}

std::uint8_t clamp8(std::uint64_t v) {
  return static_cast<std::uint8_t>(std::min<std::uint64_t>(v, 255));
}

// Decodes one data row; returns the name of the first bad field, or nullptr.
const char* decode_row(std::string_view line, core::Family family, core::TcpSocket& s) {
  Tokens t(line);
  std::string_view sl = t.next();
  if (sl.size() < 2 || sl.back() != ':') return "sl";
  if (!parse_endpoint(t.next(), family, s.local)) return "local_address";
  if (!parse_endpoint(t.next(), family, s.peer)) return "rem_address";
  std::uint64_t st, tx, rx, tr, when, retrnsmt, uid, probes, inode;
  if (!parse_hex(t.next(), st) || st > 0xFF) return "st";
  if (!parse_hex_pair(t.next(), tx, rx)) return "tx_queue:rx_queue";
  if (!parse_hex_pair(t.next(), tr, when) || tr > 0xFF) return "tr:tm->when";
  if (!parse_hex(t.next(), retrnsmt)) return "retrnsmt";
  if (!parse_dec(t.next(), uid)) return "uid";
  if (!parse_dec(t.next(), probes)) return "timeout"; // really icsk_probes_out
  if (!parse_dec(t.next(), inode)) return "inode";
  s.state = decode_state(st);
  s.send_q = clamp32(tx);
  s.recv_q = clamp32(rx);
  s.timer = tr <= 4 ? static_cast<core::TimerKind>(tr) : core::TimerKind::Off;
  s.timer_remaining_ms = clamp32(when * kMsPerClockTick);
  // Same meaning as idiag_retrans: retransmits for the retransmit timer, probes for the
  // keepalive and zero-window timers, 0 otherwise.
  if (s.timer == core::TimerKind::Retransmit)
    s.retrans = clamp8(retrnsmt);
  else if (s.timer == core::TimerKind::Keepalive || s.timer == core::TimerKind::Probe0)
    s.retrans = clamp8(probes);
  s.uid = clamp32(uid);
  s.inode = clamp32(inode);
  return nullptr;
}

bool is_header(std::string_view line) {
  Tokens t(line);
  return t.next() == "sl";
}

} // namespace

Result<void> decode_proc_net_tcp(std::string_view text,
                                 core::Family family,
                                 const SockDiagRequest& filter,
                                 std::vector<core::TcpSocket>& out) {
  if (family != core::Family::Ipv4 && family != core::Family::Ipv6)
    return fail("decode_proc_net_tcp: family must be IPv4 or IPv6");
  if ((family == core::Family::Ipv4 && !filter.ipv4) ||
      (family == core::Family::Ipv6 && !filter.ipv6))
    return {};
  const std::size_t out_mark = out.size();
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos || is_header(line)) continue;
    core::TcpSocket s;
    if (const char* bad = decode_row(line, family, s)) {
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(out_mark), out.end());
      return fail(
          fmt::format("line {}: malformed {} field in \"{}\"", line_no, bad, line.substr(0, 80)));
    }
    if (filter.state_mask & core::state_bit(s.state)) out.push_back(s);
  }
  return {};
}

Result<void> read_proc_net_tcp(const core::FsRoot& root,
                               const SockDiagRequest& filter,
                               std::vector<core::TcpSocket>& out) {
  struct File {
    const char* rel;
    core::Family family;
    bool wanted;
  };
  const File files[] = {{"net/tcp", core::Family::Ipv4, filter.ipv4},
                        {"net/tcp6", core::Family::Ipv6, filter.ipv6}};
  const std::size_t out_mark = out.size();
  for (const auto& f : files) {
    if (!f.wanted) continue;
    const std::string path = root.proc_path(f.rel);
    auto text = read_file(path, kTableFileLimit);
    if (!text) {
      // No tcp6 means IPv6 is disabled (ipv6.disable=1 or no module), not a failure.
      if (f.family == core::Family::Ipv6 && text.error().sys_errno == ENOENT) continue;
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(out_mark), out.end());
      return tl::unexpected(text.error());
    }
    auto r = decode_proc_net_tcp(*text, f.family, filter, out);
    if (!r) {
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(out_mark), out.end());
      return tl::unexpected(core::with_context(path, r.error()));
    }
  }
  return {};
}

} // namespace sockdoctor::collect
