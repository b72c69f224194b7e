// Renders a list of sockets with their owners: an ss-like table and a streamed JSON document.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <span>
#include <vector>

#include "analyze/age.hpp"
#include "analyze/host_model.hpp"
#include "analyze/workload.hpp"
#include "core/snapshot.hpp"

namespace sockdoctor::render {

// The sockets a list shows, in display order: the given indices into snapshot->sockets, or every
// socket in dump order without an index vector (4 bytes a socket: 4 MB of a million-socket `ls`).
class RowSelection {
public:
  class iterator {
  public:
    std::uint32_t operator*() const { return p_ != nullptr ? *p_ : i_; }
    iterator& operator++() {
      if (p_ != nullptr)
        ++p_;
      else
        ++i_;
      return *this;
    }
    bool operator==(const iterator&) const = default;

  private:
    friend class RowSelection;
    iterator(const std::uint32_t* p, std::uint32_t i) : p_(p), i_(i) {}
    const std::uint32_t* p_;
    std::uint32_t i_;
  };

  RowSelection() = default;
  RowSelection(std::span<const std::uint32_t> indices) : indices_(indices), all_(false) {}
  RowSelection(const std::vector<std::uint32_t>& indices)
      : RowSelection(std::span<const std::uint32_t>(indices)) {}
  static RowSelection all(std::size_t count) {
    RowSelection r;
    r.count_ = static_cast<std::uint32_t>(count);
    return r;
  }

  std::size_t size() const { return all_ ? count_ : indices_.size(); }
  bool empty() const { return size() == 0; }
  iterator begin() const { return all_ ? iterator(nullptr, 0) : iterator(indices_.data(), 0); }
  iterator end() const {
    return all_ ? iterator(nullptr, count_) : iterator(indices_.data() + indices_.size(), 0);
  }

private:
  std::span<const std::uint32_t> indices_;
  std::uint32_t count_ = 0;
  bool all_ = true;
};

struct SocketListView {
  // The age of socket s, which is an element of snapshot->sockets.
  analyze::Age age_of(const core::TcpSocket& s) const {
    const auto i = static_cast<std::size_t>(&s - snapshot->sockets.data());
    return compute_age ? compute_age(i) : ages[i];
  }
  bool has_ages() const { return !ages.empty() || compute_age != nullptr; }

  const core::Snapshot* snapshot = nullptr;
  RowSelection rows;                  // which sockets, in display order
  std::span<const analyze::Age> ages; // parallel to snapshot->sockets; empty = no AGE column
  bool owners_scanned = true;         // false: owners were not asked for
  // Units, containers, pods of the owners and of orphans' cgroups (JSON only); nullptr: none.
  const analyze::WorkloadTable* workloads = nullptr;
  // Who closed the sockets without an fd (the eBPF register), sorted by socket index.
  std::span<const analyze::SocketCloser> closers;
  // Instead of `ages`: the age of snapshot->sockets[i], computed when its row is written (ls
  // holds no 16-byte Age per socket: 16 MB of a million-socket list).
  std::function<analyze::Age(std::size_t)> compute_age;

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
