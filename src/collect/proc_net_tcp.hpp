// /proc/net/tcp and /proc/net/tcp6: the text fallback when sock_diag is unavailable.
#pragma once

#include <string_view>
#include <vector>

#include "collect/sock_diag.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/socket.hpp"

namespace sockdoctor::collect {

// Decodes the text of one file (`family` says which: tcp is IPv4, tcp6 IPv6) into `out`
// (appends), keeping the states and families `filter` asks for. Rows carry no cookie and no
// tcp_info (has_info=false); for LISTEN rows send_q is 0, not the backlog sock_diag reports.
// A malformed line is an error "line N: ..."; on error `out` is left as it was.
core::Result<void> decode_proc_net_tcp(std::string_view text,
                                       core::Family family,
                                       const SockDiagRequest& filter,
                                       std::vector<core::TcpSocket>& out);

// Reads <proc>/net/tcp and <proc>/net/tcp6. A missing tcp6 (IPv6 disabled) is not an error.
core::Result<void> read_proc_net_tcp(const core::FsRoot& root,
                                     const SockDiagRequest& filter,
                                     std::vector<core::TcpSocket>& out);

} // namespace sockdoctor::collect
