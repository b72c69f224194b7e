// Owner scan through iter/task_file: load, read fixed-size records, then /proc details of holders.
#include "collect/bpf_owners.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "collect/bpf/task_sockets.h"
#include "collect/bpf_runtime.hpp"
#include "collect/netns.hpp"
#include "collect/proc_owners.hpp"
#include "collect/unique_fd.hpp"

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>

#include "collect/bpf/task_sockets_loader.h"
#endif

namespace sockdoctor::collect {

static_assert(sizeof(task_sockets_record) == TASK_SOCKETS_RECORD_SIZE,
              "task_sockets.h record layout changed: the BPF side and this decoder disagree");

namespace {

constexpr std::string_view kUnavailable = "eBPF owner scan unavailable: ";

} // namespace

std::size_t decode_task_socket_records(std::span<const std::byte> data, TaskSocketRecords& out) {
  const std::size_t whole = data.size() - data.size() % sizeof(task_sockets_record);
  for (std::size_t off = 0; off < whole; off += sizeof(task_sockets_record)) {
    task_sockets_record rec;
    std::memcpy(&rec, data.data() + off, sizeof rec);
    const auto pid = static_cast<std::int32_t>(rec.tgid);
    if (rec.kind == TASK_SOCKETS_SOCKET) {
      // Socket inodes come from get_next_ino(), an unsigned int, so they always fit.
      out.sockets.push_back(
          {pid, static_cast<std::int32_t>(rec.fd), static_cast<std::uint32_t>(rec.inode)});
    } else if (rec.kind == TASK_SOCKETS_PROCESS) {
      out.processes.push_back({pid, rec.fd});
    } else {
      ++out.unknown;
    }
  }
  return whole;
}

core::Result<core::OwnerTable>
build_bpf_owner_table(const TaskSocketRecords& records, const core::FsRoot& root, bool details) {
  UniqueFd proc(details ? ::open(root.proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1);
  if (details) {
    if (!proc.valid()) {
      int e = errno;
      return core::fail("eBPF owner scan: " + root.proc + ": " + std::strerror(e), e);
    }
  }
  // The iterator already goes by pid, but sorting here keeps the table independent of that.
  std::vector<std::int32_t> pids;
  for (const BpfSocketRef& s : records.sockets) {
    if (pids.empty() || pids.back() != s.pid) pids.push_back(s.pid);
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  auto slot_of = [&pids](std::int32_t pid) {
    return static_cast<std::size_t>(std::lower_bound(pids.begin(), pids.end(), pid) - pids.begin());
  };

  std::vector<core::ProcessInfo> infos(pids.size());
  for (std::size_t i = 0; i < pids.size(); ++i)
    infos[i].pid = pids[i];
  for (const BpfProcessFds& p : records.processes) {
    if (std::size_t s = slot_of(p.pid); s < pids.size() && pids[s] == p.pid) {
      infos[s].fd_count = p.fd_count;
    }
  }
  std::vector<char> alive(infos.size(), 1);
  if (details)
    read_process_details(proc.get(), infos, alive,
                         std::clamp(std::thread::hardware_concurrency(), 1u, 16u));

  core::OwnerTable table;
  table.scanned = true;
  constexpr std::uint32_t kNone = UINT32_MAX;
  std::vector<std::uint32_t> index_of_slot(infos.size(), kNone);
  for (std::size_t i = 0; i < infos.size(); ++i) {
    if (!alive[i]) {
      ++table.vanished;
      continue;
    }
    index_of_slot[i] = table.add_process(std::move(infos[i]));
  }
  std::int32_t last_pid = 0;
  std::uint32_t last_index = kNone;
  for (const BpfSocketRef& s : records.sockets) {
    if (s.pid != last_pid || last_index == kNone) { // sockets of one process come in a run
      last_pid = s.pid;
      last_index = index_of_slot[slot_of(s.pid)];
    }
    if (last_index != kNone) table.add_fd(s.inode, last_index, s.fd);
  }
  table.finalize();
  return table;
}

#ifdef SOCKDOCTOR_HAVE_BPF

namespace {

constexpr const char* kContext = "eBPF owner scan unavailable";
constexpr const char* kKernelHint =
    "kernel without iter/task_file or bpf_sock_from_file, Linux 5.11+ with BTF; the light "
    "skeleton needs CO-RE relocations done by the kernel, Linux 5.17+";

// The light skeleton (collect/bpf/task_sockets_loader.h): destroy detaches the link.
struct LoaderDeleter {
  void operator()(taski_loader* l) const { taski_loader_destroy(l); }
};
using Loader = std::unique_ptr<taski_loader, LoaderDeleter>;

core::Error unavailable(std::string_view step, int err) {
  return bpf_unavailable(
      bpf_error(std::string(kContext) + ": " + std::string(step), err, kKernelHint));
}

// A read() returns at most the 32 KiB seq_file buffer, always whole elements.
core::Result<TaskSocketRecords> read_iterator(int iter_fd) {
  constexpr std::uint64_t kMaxBytes = 4ULL << 30; // 134M records: far beyond any real host
  TaskSocketRecords out;
  auto r = read_bpf_iterator(
      iter_fd, "eBPF owner scan", 256 * 1024, kMaxBytes,
      [&out](std::span<const std::byte> data) { return decode_task_socket_records(data, out); });
  if (!r) return tl::unexpected(r.error());
  return out;
}

core::Result<Loader> load_iterator() {
  install_bpf_log();
  errno = 0;
  Loader l(taski_loader_open());
  if (l == nullptr) return tl::unexpected(unavailable("open", errno != 0 ? errno : ENOMEM));
  const int err = load_light_skeleton(
      [&](char* log, std::uint32_t size) { return taski_loader_load(l.get(), log, size); });
  if (err != 0) return tl::unexpected(unavailable("load", err));
  if (const int a = taski_loader_attach(l.get()); a != 0) // destroy detaches the link
    return tl::unexpected(unavailable("attach iter/task_file", -a));
  return l;
}

// Loading and attaching costs tens of ms; a daemon scans every few seconds, so the program stays
// loaded for the life of the process and each scan only creates a new iterator from its link.
// Scans are serialised: the counters in .bss are the current scan's.
std::mutex g_iterator_mutex;
std::optional<Loader> g_iterator;

core::Result<TaskSocketRecords> iterate_task_files(BpfOwnerScanStats& stats,
                                                   std::uint32_t skip_tcp_states) {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard lock(g_iterator_mutex);
  if (!g_iterator) {
    auto skel = load_iterator();
    if (!skel) return tl::unexpected(skel.error());
    g_iterator.emplace(std::move(*skel));
  }
  taski_loader* l = g_iterator->get();
  taski_loader_begin(l, skip_tcp_states);
  UniqueFd iter(bpf_iter_create(taski_loader_link_fd(l)));
  if (!iter.valid()) return tl::unexpected(unavailable("create iterator", errno));
  stats.load_us = micros_since(start);

  const auto read_start = std::chrono::steady_clock::now();
  auto records = read_iterator(iter.get());
  if (!records) return tl::unexpected(records.error());
  stats.iterate_us = micros_since(read_start);
  taski_totals totals{};
  taski_loader_totals(l, &totals);
  stats.processes_seen = totals.tasks_seen;
  stats.files_seen = totals.files_seen;
  stats.sockets_seen = totals.sockets_seen;
  return records;
}

} // namespace

core::Result<BpfOwnerScanResult>
run_bpf_owner_scan(const core::FsRoot& root, bool details, std::uint32_t skip_tcp_states) {
  BpfOwnerScanResult result;
  auto records = iterate_task_files(result.stats, skip_tcp_states);
  if (!records) return tl::unexpected(records.error());
  const auto start = std::chrono::steady_clock::now();
  auto table = build_bpf_owner_table(*records, root, details);
  if (!table) return tl::unexpected(table.error());
  result.stats.details_us = micros_since(start);
  result.table = std::move(*table);
  return result;
}

bool bpf_owner_scan_compiled() {
  return true;
}

#else // !SOCKDOCTOR_HAVE_BPF

core::Result<BpfOwnerScanResult> run_bpf_owner_scan(const core::FsRoot&, bool, std::uint32_t) {
  return core::fail(core::ErrorCode::Unavailable,
                    std::string(kUnavailable) +
                        "built without eBPF (clang, bpftool, libbpf or kernel BTF were missing)");
}

bool bpf_owner_scan_compiled() {
  return false;
}

#endif

core::Result<core::OwnerTable>
scan_owners_bpf(const core::FsRoot& root, bool details, std::uint32_t skip_tcp_states) {
  auto result = run_bpf_owner_scan(root, details, skip_tcp_states);
  if (!result) return tl::unexpected(result.error());
  return std::move(result->table);
}

bool bpf_owner_scan_unavailable(const core::Error& error) {
  return error.code == core::ErrorCode::Unavailable ||
         error.code == core::ErrorCode::PermissionDenied;
}

} // namespace sockdoctor::collect
