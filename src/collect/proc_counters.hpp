// Kernel counters of one network namespace: /proc/net/sockstat{,6}, netstat and snmp. The one
// parser of these files (kernel settings, the sampler and the dump's size hint all use it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace sockdoctor::collect {

// ---- Pure decoders ----

// /proc/net/netstat or /proc/net/snmp: the pair of lines starting with "<prefix>:" (names, then
// values) as name -> value. Negative values (snmp "MaxConn -1") are left out: the map is
// unsigned and -1 there means "no limit", not a count.
core::Result<std::map<std::string, std::uint64_t>> parse_proc_net_pairs(std::string_view text,
                                                                        std::string_view prefix);

// /proc/net/sockstat "TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 254" (tw counts TIME_WAIT and
// FIN_WAIT2 mini-sockets of both families; inuse only IPv4 full sockets).
struct SockstatTcp {
  std::optional<std::uint64_t> inuse, orphan, tw, alloc, mem;
};
core::Result<SockstatTcp> parse_sockstat_tcp(std::string_view text);

// /proc/net/sockstat6 "TCP6: inuse N": full IPv6 TCP sockets.
std::optional<std::uint64_t> parse_sockstat6_tcp_inuse(std::string_view text);

// ---- I/O: `net_dir` is <proc>/net, or /proc/thread-self/net inside a setns() thread (the
// namespace of /proc/self/net is the process's, not the calling thread's). ----

struct SocketCounts {
  SockstatTcp v4;                          // from sockstat
  std::optional<std::uint64_t> v6_inuse;   // from sockstat6 (absent without IPv6)
  std::optional<std::uint64_t> curr_estab; // snmp Tcp CurrEstab: ESTABLISHED + CLOSE_WAIT
};

// sockstat, sockstat6 and the snmp Tcp line: cheap enough to read every second.
core::Result<SocketCounts> read_socket_counts(const std::string& net_dir);

} // namespace sockdoctor::collect
