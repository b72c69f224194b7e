// Names and groups of TCP states.
#include "core/tcp_state.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace sockdoctor::core {
namespace {

struct StateNames {
  TcpState state;
  std::string_view ss;
  std::string_view snake;
};

constexpr std::array<StateNames, 12> kNames = {{
    {TcpState::Unknown, "UNKNOWN", "unknown"},
    {TcpState::Established, "ESTAB", "established"},
    {TcpState::SynSent, "SYN-SENT", "syn_sent"},
    {TcpState::SynRecv, "SYN-RECV", "syn_recv"},
    {TcpState::FinWait1, "FIN-WAIT-1", "fin_wait1"},
    {TcpState::FinWait2, "FIN-WAIT-2", "fin_wait2"},
    {TcpState::TimeWait, "TIME-WAIT", "time_wait"},
    {TcpState::Close, "UNCONN", "close"},
    {TcpState::CloseWait, "CLOSE-WAIT", "close_wait"},
    {TcpState::LastAck, "LAST-ACK", "last_ack"},
    {TcpState::Listen, "LISTEN", "listen"},
    {TcpState::Closing, "CLOSING", "closing"},
}};

constexpr std::uint32_t bits(std::initializer_list<TcpState> states) {
  std::uint32_t m = 0;
  for (auto s : states)
    m |= state_bit(s);
  return m;
}

// Normalise: lower case, '_' -> '-'.
std::string normalise(std::string_view w) {
  std::string out(w);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c == '_') c = '-';
  }
  return out;
}

} // namespace

std::string_view ss_name(TcpState s) {
  auto i = static_cast<std::size_t>(s);
  return i < kNames.size() ? kNames[i].ss : kNames[0].ss;
}

std::string_view snake_name(TcpState s) {
  auto i = static_cast<std::size_t>(s);
  return i < kNames.size() ? kNames[i].snake : kNames[0].snake;
}

std::optional<std::uint32_t> parse_state_word(std::string_view word) {
  const std::string w = normalise(word);
  if (w.empty()) return std::nullopt;
  for (const auto& n : kNames) {
    if (n.state == TcpState::Unknown || n.state == TcpState::Close) continue;
    if (w == normalise(n.ss) || w == normalise(n.snake)) return state_bit(n.state);
  }
  // Aliases people type: "established" is handled above; ss also accepts these.
  if (w == "fin-wait1" || w == "finwait1") return state_bit(TcpState::FinWait1);
  if (w == "fin-wait2" || w == "finwait2") return state_bit(TcpState::FinWait2);
  if (w == "syn-recv" || w == "syn-received") return state_bit(TcpState::SynRecv);
  // Groups, as ss(8) defines them (without "closed", which we never ask the kernel for).
  if (w == "all") return kAllStatesMask;
  if (w == "connected") return kAllStatesMask & ~bits({TcpState::Listen});
  if (w == "synchronized") return kAllStatesMask & ~bits({TcpState::Listen, TcpState::SynSent});
  if (w == "bucket") return bits({TcpState::SynRecv, TcpState::TimeWait});
  if (w == "big") return kAllStatesMask & ~bits({TcpState::SynRecv, TcpState::TimeWait});
  return std::nullopt;
}

std::optional<std::uint32_t> parse_state_list(std::string_view list, std::string_view* bad) {
  std::uint32_t mask = 0;
  while (true) {
    auto comma = list.find(',');
    auto word = list.substr(0, comma);
    auto bit = parse_state_word(word);
    if (!bit) {
      if (bad) *bad = word;
      return std::nullopt;
    }
    mask |= *bit;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return mask;
}

} // namespace sockdoctor::core
