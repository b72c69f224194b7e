// TCP states as the kernel numbers them (include/net/tcp_states.h), with ss and snake_case names.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sockdoctor::core {

enum class TcpState : std::uint8_t {
  Unknown = 0,
  Established = 1,
  SynSent = 2,
  SynRecv = 3,
  FinWait1 = 4,
  FinWait2 = 5,
  TimeWait = 6,
  Close = 7,
  CloseWait = 8,
  LastAck = 9,
  Listen = 10,
  Closing = 11,
};

inline constexpr int kMaxTcpState = 11;

// Bit for idiag_states / user filters.
constexpr std::uint32_t state_bit(TcpState s) {
  return 1u << static_cast<unsigned>(s);
}

// Every real state except CLOSE: asking the kernel for TCP_CLOSE makes it walk the bind hash
// (slow, and it yields bound-but-unconnected sockets), see research/ebpf-findings.md.
inline constexpr std::uint32_t kAllStatesMask = 0xFFEu & ~(1u << 7);

// All states in display order.
inline constexpr std::array<TcpState, 10> kAllStates = {
    TcpState::Listen,   TcpState::SynSent,  TcpState::SynRecv,  TcpState::Established,
    TcpState::FinWait1, TcpState::FinWait2, TcpState::TimeWait, TcpState::CloseWait,
    TcpState::LastAck,  TcpState::Closing};

// "CLOSE-WAIT", "ESTAB", ... exactly as ss prints them.
std::string_view ss_name(TcpState s);
// "close_wait", "established", ... (JSON, Prometheus label values).
std::string_view snake_name(TcpState s);

// Parses one state or group name: ss names ("close-wait", "estab"), snake_case ("close_wait"),
// upper case, and ss groups ("connected", "synchronized", "bucket", "big", "all").
std::optional<std::uint32_t> parse_state_word(std::string_view word);
// Comma-separated list of the above; nullopt names the first bad word through *bad.
std::optional<std::uint32_t> parse_state_list(std::string_view list,
                                              std::string_view* bad = nullptr);

} // namespace sockdoctor::core
