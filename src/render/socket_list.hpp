// Renders a list of sockets with their owners: an ss-like table and a streamed JSON document.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>

#include "analyze/age.hpp"
#include "analyze/host_model.hpp"
#include "analyze/workload.hpp"
#include "core/snapshot.hpp"

namespace sockdoctor::render {

struct SocketListView {
  // The age of socket s, which is an element of snapshot->sockets.
  const analyze::Age& age_of(const core::TcpSocket& s) const {
    return ages[static_cast<std::size_t>(&s - snapshot->sockets.data())];
  }
  bool has_ages() const { return !ages.empty(); }

  const core::Snapshot* snapshot = nullptr;
  std::span<const std::uint32_t> rows; // indices into snapshot->sockets, display order
  std::span<const analyze::Age> ages;  // parallel to snapshot->sockets; empty = no AGE column
  bool owners_scanned = true;          // false: owners were not asked for
  // Units, containers, pods of the owners and of orphans' cgroups (JSON only); nullptr: none.
  const analyze::WorkloadTable* workloads = nullptr;
  // Who closed the sockets without an fd (the eBPF register), sorted by socket index.
  std::span<const analyze::SocketCloser> closers;

  const analyze::SocketCloser* closer_of(const core::TcpSocket& s) const;
};

struct TableOptions {
  bool wide = false; // never truncate (IPv6 addresses, every owner)
  bool header = true;
  int width = 80; // target width when not wide
};

// Two passes: measure the columns, then write. Output goes out in large chunks.
void render_socket_table(std::ostream& out, const SocketListView& view, const TableOptions& opts);

// {"schema_version":1,"sockets":[...],"summary":{...}} written as a stream: no document tree.
void render_socket_json(std::ostream& out, const SocketListView& view);

// Whether the table of these states reads tcp_info: only the Age of CLOSE_WAIT and held
// FIN_WAIT2 sockets does, so a filter without them spares the kernel tcp_get_info (a socket lock
// each) and most of the bytes per socket.
bool table_reads_tcp_info(std::uint32_t state_mask);

// Name of a network namespace in the snapshot ("" when it has none, or is unknown).
std::string_view netns_name(const core::Snapshot& snap, std::uint32_t inode);

} // namespace sockdoctor::render
