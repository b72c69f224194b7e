// Sockets from one pass of the eBPF iter/tcp program (tcp_sockets.bpf.c): the same sockets and
// fields a sock_diag dump of this namespace gives, as fixed-size records instead of netlink
// messages. The privileged fast path of the sampler; sock_diag stays the default and the oracle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "collect/sock_diag.hpp"
#include "core/error.hpp"
#include "core/kernel_settings.hpp"
#include "core/socket.hpp"
#include "core/socket_aggregate.hpp"

namespace sockdoctor::collect {

struct TcpIterStats {
  std::uint64_t records = 0; // sockets the program wrote (after the in-kernel filter)
  std::uint64_t load_us = 0; // first use: skeleton open + load + attach; then ~0
  std::uint64_t read_us = 0; // reading and decoding the iterator output
  // Summary mode only: why the summary cannot stand for the sockets it left out (the tuple map
  // was full, ...); empty when it can. The caller then lists every socket instead.
  std::string summary_incomplete;
};

// Summary mode: which sockets are counted instead of listed, and the namespace's ephemeral port
// policy the per-destination counts follow (analyze::EphemeralPorts).
struct TcpIterSummaryConfig {
  std::uint32_t aggregate_mask = 0;          // states; sockets without an fd are listed regardless
  core::PortRange range;                     // ip_local_port_range
  std::vector<std::pair<int, int>> reserved; // ip_local_reserved_ports, inclusive ranges
};

// Appends the sockets of the caller's network namespace (the thread's, after setns) that
// `request` wants. `hz` is the running kernel's CONFIG_HZ: the records carry raw jiffies.
// Errors that mean "this machine cannot" satisfy bpf_owner_scan_unavailable().
core::Result<TcpIterStats>
dump_tcp_iter(const SockDiagRequest& request, int hz, std::vector<core::TcpSocket>& out);

// Summary mode of the same program: the sockets `config` names are counted into `aggregate`
// (replaced) instead of appended to `out`. When stats.summary_incomplete is set, `out` and
// `aggregate` are partial and must be discarded.
core::Result<TcpIterStats> dump_tcp_iter_summary(const SockDiagRequest& request,
                                                 int hz,
                                                 const TcpIterSummaryConfig& config,
                                                 std::vector<core::TcpSocket>& out,
                                                 core::SocketAggregate& aggregate);

bool tcp_iter_compiled();

// ---- Pure decoding of the iterator output (tcp_sockets.h records), testable without BPF ----

struct TcpRecordDecoding {
  int hz = 250;
  bool tcp_info = true; // fill TcpSocket::info (and has_info) of full, non-listening sockets
};

// Decodes the whole records at the start of `data`, appending to `out`; returns the bytes
// consumed (a record cut by the end of a read() is decoded with the next chunk). Records of an
// unknown kind or family are skipped and counted in *skipped.
std::size_t decode_tcp_socket_records(std::span<const std::byte> data,
                                      const TcpRecordDecoding& how,
                                      std::vector<core::TcpSocket>& out,
                                      std::uint64_t* skipped);

// One entry of the port_tuples map (tcp_sockets_tuple_key and _value): false when the sizes
// or the family are wrong. Timer values are jiffies, converted with `hz`.
bool decode_port_tuple(std::span<const std::byte> key,
                       std::span<const std::byte> value,
                       int hz,
                       core::PortTupleCount& out);

} // namespace sockdoctor::collect
