// Socket owners from one pass of the eBPF iter/task_file program: the privileged fast path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/owner.hpp"

namespace sockdoctor::collect {

// What the iterator saw, counted in the kernel, plus where the time went.
struct BpfOwnerScanStats {
  std::uint64_t processes_seen = 0; // thread-group leaders with at least one open file
  std::uint64_t files_seen = 0;     // their open fds of any kind
  std::uint64_t sockets_seen = 0;   // of which sockets
  std::uint64_t load_us = 0;        // skeleton open + load + attach
  std::uint64_t iterate_us = 0;     // reading and decoding the iterator output
  std::uint64_t details_us = 0;     // per-process details from /proc
};

struct BpfOwnerScanResult {
  core::OwnerTable table;
  BpfOwnerScanStats stats;
};

// The whole scan: loads task_sockets.bpf.c, reads every (pid, fd, socket inode) of every process
// once, then reads comm/cmdline/uid/cgroup/fd limit/netns from <root.proc>/PID of the socket
// holders when `details`. The table equals what scan_owners() builds from the same <proc>
// (same processes, references, fd_count, details, and vanished accounting for processes that
// exit before their details are read), except that `denied` is always 0: the iterator is not
// limited by ptrace checks. Pids are those of the caller's pid namespace, so root.proc must be
// that namespace's /proc. Errors that mean "this machine cannot" satisfy
// bpf_owner_scan_unavailable(); any error means: fall back to scan_owners().
// skip_tcp_states: TCP sockets in these states (bit 1 << state) are left out of the table (the
// socket iterator's summary mode counted them and nobody asks for their owners).
core::Result<BpfOwnerScanResult>
run_bpf_owner_scan(const core::FsRoot& root, bool details, std::uint32_t skip_tcp_states = 0);
core::Result<core::OwnerTable>
scan_owners_bpf(const core::FsRoot& root, bool details, std::uint32_t skip_tcp_states = 0);

// True when built with SOCKDOCTOR_HAVE_BPF (clang, bpftool, libbpf and BTF at build time).
bool bpf_owner_scan_compiled();
// True for errors that say the fast path is not possible here (not compiled in, no CAP_BPF +
// CAP_PERFMON, kernel without iter/task_file or bpf_sock_from_file) rather than a failure.
bool bpf_owner_scan_unavailable(const core::Error& error);

// ---- Pure decoding of the iterator output (task_sockets.h records), testable without BPF ----

struct BpfSocketRef {
  std::int32_t pid = 0;
  std::int32_t fd = 0;
  std::uint32_t inode = 0;
};

struct BpfProcessFds {
  std::int32_t pid = 0;
  std::uint32_t fd_count = 0;
};

struct TaskSocketRecords {
  std::vector<BpfSocketRef> sockets;    // iterator order
  std::vector<BpfProcessFds> processes; // one per socket holder, after its sockets
  std::uint64_t unknown = 0;            // records of a kind this build does not know (skipped)
};

// Decodes the whole records at the start of `data` into `out`; returns the bytes consumed, so a
// record cut by the end of a read() is decoded with the next chunk.
std::size_t decode_task_socket_records(std::span<const std::byte> data, TaskSocketRecords& out);

// OwnerTable of the decoded records, sorted by pid like the /proc scan, details (if asked) from
// <root.proc>/PID. A holder that is gone before its details are read is counted in `vanished`
// and its references dropped, as scan_owners() does. Fails only if <root.proc> cannot be opened.
core::Result<core::OwnerTable>
build_bpf_owner_table(const TaskSocketRecords& records, const core::FsRoot& root, bool details);

} // namespace sockdoctor::collect
