// Owner scan: <proc>/PID/fd walked with getdents64 + readlinkat on dirfds, split across threads.
#include "collect/proc_owners.hpp"
#include "collect/unique_fd.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "collect/fs_read.hpp"
#include "collect/netns.hpp"
#include "core/parse.hpp"

namespace sockdoctor::collect {

namespace {

using core::first_word;
using core::line_value;
using core::parse_number;

bool is_vanish_errno(int e) {
  return e == ENOENT || e == ESRCH;
}

// Reads a small /proc file relative to dir_fd into out (bounded, non-blocking); 0 or the errno.
int read_at(int dir_fd, const char* path, std::string& out) {
  return read_file_at(dir_fd, path, kSmallFileLimit, OverLimit::Truncate, out);
}

int read_pid_file(int proc_fd, std::int32_t pid, const char* name, std::string& out) {
  char path[64];
  std::snprintf(path, sizeof path, "%d/%s", pid, name);
  return read_at(proc_fd, path, out);
}

// One unit of work: a whole process (its first fd batch), or a range of fd numbers of a big one.
struct Job {
  bool whole_process = true;
  std::uint32_t slot = 0; // index into the sorted pid list
  std::int32_t lo = 0;    // fd range [lo, hi) for chunks
  std::int32_t hi = INT32_MAX;
};

struct Ref {
  std::uint32_t inode;
  std::uint32_t slot;
  std::int32_t fd;
};

enum SlotState : std::uint8_t { kSlotOk = 0, kSlotVanished = 1, kSlotDenied = 2 };

struct Slot {
  std::atomic<std::uint32_t> fd_count{0};
  std::atomic<std::uint8_t> state{kSlotOk};
};

// Idle threads prefer fd chunks of a big process over new pids, so one process holding most
// of the sockets is still scanned by every thread.
class Scheduler {
public:
  explicit Scheduler(std::uint32_t pid_count) : pid_count_(pid_count) {}

  bool next(Job& job) {
    std::unique_lock lock(mu_);
    for (;;) {
      if (!chunks_.empty()) {
        job = chunks_.front();
        chunks_.pop_front();
        return true;
      }
      if (next_pid_ < pid_count_) {
        job = Job{true, next_pid_++, 0, INT32_MAX};
        ++producers_;
        return true;
      }
      if (producers_ == 0) return false;
      cv_.wait(lock);
    }
  }
  void publish(const std::vector<Job>& chunks) {
    {
      std::lock_guard lock(mu_);
      chunks_.insert(chunks_.end(), chunks.begin(), chunks.end());
    }
    cv_.notify_all();
  }
  void process_done() {
    bool last = false;
    {
      std::lock_guard lock(mu_);
      last = --producers_ == 0 && next_pid_ == pid_count_;
    }
    if (last) cv_.notify_all();
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> chunks_;
  std::uint32_t pid_count_;
  std::uint32_t next_pid_ = 0;
  std::uint32_t producers_ = 0; // whole-process jobs in flight: they may still publish chunks
};

constexpr std::size_t kDentsBuffer = 32 * 1024; // ~1000-1365 fd entries per getdents64 call
constexpr std::int32_t kChunkFds = 4096;        // fd numbers per chunk of a big process
constexpr std::size_t kMaxDentSize = 32;        // reclen of an fd entry with a name <= 12 digits

const dirent64* dent_at(const char* buf, std::size_t off) {
  return reinterpret_cast<const dirent64*>(buf + off);
}

// A batch of getdents64 output that may be split at fd numbers: in /proc/PID/fd, f_pos is
// "fd + 2" (proc_readfd_common), so each entry's d_off is the next open fd + 2 and lseek(fd + 2)
// resumes at the first open fd >= fd. Verified on the batch before relying on it.
bool batch_is_seekable(const char* buf, std::size_t len, std::int64_t& resume_pos) {
  std::optional<std::int32_t> prev_fd;
  std::int64_t prev_off = 0;
  bool ok = true;
  int fds = 0;
  for (std::size_t off = 0; off < len; off += dent_at(buf, off)->d_reclen) {
    const dirent64* d = dent_at(buf, off);
    auto fd = parse_number<std::int32_t>(d->d_name);
    if (!fd) continue;
    if (prev_fd && prev_off != static_cast<std::int64_t>(*fd) + 2) ok = false;
    prev_fd = fd;
    prev_off = d->d_off;
    ++fds;
  }
  resume_pos = prev_off;
  return ok && fds >= 2 && prev_fd && prev_off > static_cast<std::int64_t>(*prev_fd) + 2;
}

class OwnerScanner {
public:
  OwnerScanner(int proc_fd, std::vector<std::int32_t> pids, unsigned threads)
      : proc_fd_(proc_fd), pids_(std::move(pids)), slots_(new Slot[pids_.size()]),
        scheduler_(static_cast<std::uint32_t>(pids_.size())), threads_(threads) {}

  // Runs the scan; returns every thread's references.
  std::vector<std::vector<Ref>> run();
  std::int32_t pid(std::uint32_t slot) const { return pids_[slot]; }
  const Slot& slot(std::uint32_t i) const { return slots_[i]; }
  std::size_t size() const { return pids_.size(); }

private:
  struct Worker {
    std::vector<Ref> refs;
    std::unique_ptr<char[]> dents{new char[kDentsBuffer]};
  };
  void work(Worker& w);
  void scan_process(Worker& w, std::uint32_t slot);
  void scan_chunk(Worker& w, const Job& job);
  UniqueFd open_fd_dir(std::uint32_t slot);
  // readlinkat every fd entry in [lo, hi); false once an fd >= hi was seen or access was denied.
  bool scan_batch(
      Worker& w, int dir_fd, std::size_t len, std::uint32_t slot, std::int32_t lo, std::int32_t hi);
  void mark(std::uint32_t slot, int err) {
    slots_[slot].state.store(is_vanish_errno(err) ? kSlotVanished : kSlotDenied);
  }

  int proc_fd_;
  std::vector<std::int32_t> pids_;
  std::unique_ptr<Slot[]> slots_;
  Scheduler scheduler_;
  unsigned threads_;
};

std::vector<std::vector<Ref>> OwnerScanner::run() {
  std::vector<Worker> workers(threads_);
  std::vector<std::jthread> helpers;
  for (unsigned i = 1; i < threads_; ++i) {
    try {
      helpers.emplace_back([this, &w = workers[i]] { work(w); });
    } catch (const std::system_error&) {
      break; // fewer threads than asked (thread limit): the remaining workers take all jobs
    }
  }
  work(workers[0]);
  helpers.clear(); // joins
  std::vector<std::vector<Ref>> out;
  for (auto& w : workers)
    out.push_back(std::move(w.refs));
  return out;
}

void OwnerScanner::work(Worker& w) {
  Job job;
  while (scheduler_.next(job)) {
    if (job.whole_process) {
      scan_process(w, job.slot);
      scheduler_.process_done();
    } else {
      scan_chunk(w, job);
    }
  }
}

UniqueFd OwnerScanner::open_fd_dir(std::uint32_t slot) {
  char path[32];
  std::snprintf(path, sizeof path, "%d/fd", pids_[slot]);
  UniqueFd dir(::openat(proc_fd_, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) mark(slot, errno);
  return dir;
}

bool OwnerScanner::scan_batch(
    Worker& w, int dir_fd, std::size_t len, std::uint32_t slot, std::int32_t lo, std::int32_t hi) {
  const char* buf = w.dents.get();
  std::uint32_t count = 0;
  bool below_hi = true;
  char link[64];
  for (std::size_t off = 0; off < len; off += dent_at(buf, off)->d_reclen) {
    const dirent64* d = dent_at(buf, off);
    auto fd = parse_number<std::int32_t>(d->d_name);
    if (!fd || *fd < lo) continue;
    if (*fd >= hi) {
      below_hi = false;
      break;
    }
    ++count;
    ssize_t n = ::readlinkat(dir_fd, d->d_name, link, sizeof link);
    if (n < 0 && (errno == EACCES || errno == EPERM)) { // an LSM may deny single links
      mark(slot, errno);
      below_hi = false;
      break;
    }
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof link) continue; // closed meanwhile
    if (auto inode = parse_socket_link(std::string_view(link, static_cast<std::size_t>(n)))) {
      w.refs.push_back(Ref{*inode, slot, *fd});
    }
  }
  slots_[slot].fd_count.fetch_add(count, std::memory_order_relaxed);
  return below_hi;
}

void OwnerScanner::scan_process(Worker& w, std::uint32_t slot) {
  UniqueFd dir = open_fd_dir(slot);
  if (!dir.valid()) return;
  long n = ::getdents64(dir.get(), w.dents.get(), kDentsBuffer);
  if (n < 0) return mark(slot, errno);
  std::int64_t resume_pos = 0;
  const bool big = threads_ > 1 && static_cast<std::size_t>(n) + 2 * kMaxDentSize > kDentsBuffer;
  if (big && batch_is_seekable(w.dents.get(), static_cast<std::size_t>(n), resume_pos)) {
    std::string status;
    const std::uint32_t fd_size = read_pid_file(proc_fd_, pids_[slot], "status", status) == 0
                                      ? parse_status_fdsize(status).value_or(0)
                                      : 0;
    std::vector<Job> chunks;
    auto lo = static_cast<std::int32_t>(resume_pos - 2);
    for (; static_cast<std::int64_t>(lo) + kChunkFds < fd_size; lo += kChunkFds) {
      chunks.push_back(Job{false, slot, lo, lo + kChunkFds});
    }
    chunks.push_back(Job{false, slot, lo, INT32_MAX}); // open-ended: the table may grow
    scheduler_.publish(chunks);
    scan_batch(w, dir.get(), static_cast<std::size_t>(n), slot, 0,
               static_cast<std::int32_t>(resume_pos - 2));
    return;
  }
  while (n > 0) {
    if (!scan_batch(w, dir.get(), static_cast<std::size_t>(n), slot, 0, INT32_MAX)) return;
    n = ::getdents64(dir.get(), w.dents.get(), kDentsBuffer);
  }
  if (n < 0) mark(slot, errno);
}

void OwnerScanner::scan_chunk(Worker& w, const Job& job) {
  UniqueFd dir = open_fd_dir(job.slot);
  if (!dir.valid()) return;
  if (::lseek(dir.get(), static_cast<off_t>(job.lo) + 2, SEEK_SET) < 0)
    return mark(job.slot, errno);
  for (std::int64_t next = job.lo;;) {
    // Ask only for about as many entries as the range can hold: entries past hi cost a dentry.
    std::int64_t want = (static_cast<std::int64_t>(job.hi) - next + 1) * kMaxDentSize;
    auto size = static_cast<std::size_t>(std::clamp<std::int64_t>(want, 256, kDentsBuffer));
    long n = ::getdents64(dir.get(), w.dents.get(), size);
    if (n < 0) return mark(job.slot, errno);
    if (n == 0) return;
    if (!scan_batch(w, dir.get(), static_cast<std::size_t>(n), job.slot, job.lo, job.hi)) return;
    const char* buf = w.dents.get();
    std::size_t last = 0;
    for (std::size_t off = 0; off < static_cast<std::size_t>(n);
         off += dent_at(buf, off)->d_reclen) {
      last = off;
    }
    next = dent_at(buf, last)->d_off - 2;
  }
}

core::Result<std::vector<std::int32_t>> list_pids(int proc_fd, std::vector<char>& buf) {
  std::vector<std::int32_t> pids;
  long n;
  while ((n = ::getdents64(proc_fd, buf.data(), buf.size())) > 0) {
    for (std::size_t off = 0; off < static_cast<std::size_t>(n);
         off += dent_at(buf.data(), off)->d_reclen) {
      if (auto pid = parse_number<std::int32_t>(dent_at(buf.data(), off)->d_name);
          pid && *pid > 0) {
        pids.push_back(*pid);
      }
    }
  }
  if (n < 0) {
    int e = errno;
    return core::fail(std::string("getdents64: ") + std::strerror(e), e);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

// comm, cmdline, uid, cgroup, fd limit and netns of one socket holder. Returns false when the
// process is gone (its references are then dropped: the sockets went with it or to a child).
bool read_details(int proc_fd, core::ProcessInfo& info, std::string& buf) {
  char path[32];
  std::snprintf(path, sizeof path, "%d", info.pid);
  UniqueFd dir(::openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return !is_vanish_errno(errno);
  if (int e = read_at(dir.get(), "comm", buf); e != 0) {
    if (is_vanish_errno(e)) return false;
  } else {
    if (!buf.empty() && buf.back() == '\n') buf.pop_back();
    info.comm = buf;
  }
  bool cut = false;
  if (read_file_at(dir.get(), "cmdline", kCmdlineLimit, OverLimit::Truncate, buf, &cut) == 0) {
    info.cmdline = parse_cmdline(buf);
    info.cmdline_truncated = cut;
  }
  if (read_at(dir.get(), "status", buf) == 0) info.uid = parse_status_uid(buf).value_or(0);
  if (read_at(dir.get(), "cgroup", buf) == 0) info.cgroup = parse_cgroup_path(buf);
  if (read_at(dir.get(), "limits", buf) == 0) {
    info.fd_limit = parse_nofile_soft_limit(buf).value_or(0);
  }
  info.netns_ino = netns_inode_at(dir.get(), "ns/net");
  return true;
}

unsigned thread_count(const OwnerScanOptions& opts, std::size_t pids) {
  unsigned n = opts.threads != 0 ? opts.threads : std::thread::hardware_concurrency();
  n = std::clamp(n, 1u, 64u);
  return static_cast<unsigned>(std::min<std::size_t>(n, std::max<std::size_t>(pids, 1)));
}

} // namespace

// Details of every socket holder, in parallel (an atomic index over the holders).
void read_process_details(int proc_fd,
                          std::vector<core::ProcessInfo>& infos,
                          std::vector<char>& alive,
                          unsigned threads) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    std::string buf;
    for (std::size_t i; (i = next.fetch_add(1)) < infos.size();) {
      alive[i] = read_details(proc_fd, infos[i], buf) ? 1 : 0;
    }
  };
  std::vector<std::jthread> helpers;
  const unsigned n = std::min<std::size_t>(threads, (infos.size() + 7) / 8);
  for (unsigned i = 1; i < n; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break; // the calling thread takes the rest
    }
  }
  work();
}

core::Result<core::OwnerTable> scan_owners(const core::FsRoot& root, const OwnerScanOptions& opts) {
  UniqueFd proc(::open(root.proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.valid()) {
    int e = errno;
    return core::fail("owner scan: " + root.proc + ": " + std::strerror(e), e);
  }
  std::vector<char> dents(kDentsBuffer);
  auto pids = opts.only_pids.empty() ? list_pids(proc.get(), dents)
                                     : core::Result<std::vector<std::int32_t>>(opts.only_pids);
  if (!pids) return tl::unexpected(core::with_context("owner scan: " + root.proc, pids.error()));
  std::sort(pids->begin(), pids->end());
  const unsigned threads = thread_count(opts, pids->size());
  OwnerScanner scanner(proc.get(), std::move(*pids), threads);
  std::vector<std::vector<Ref>> refs = scanner.run();

  core::OwnerTable table;
  table.scanned = true;
  std::vector<char> holds(scanner.size(), 0);
  for (const auto& list : refs) {
    for (const Ref& r : list)
      holds[r.slot] = 1;
  }
  std::vector<core::ProcessInfo> infos;
  std::vector<std::uint32_t> info_slot;
  for (std::uint32_t s = 0; s < scanner.size(); ++s) {
    const auto state = scanner.slot(s).state.load();
    if (state == kSlotVanished) ++table.vanished;
    if (state == kSlotDenied) ++table.denied;
    if (state != kSlotOk || !holds[s]) continue;
    core::ProcessInfo info;
    info.pid = scanner.pid(s);
    info.fd_count = scanner.slot(s).fd_count.load();
    infos.push_back(std::move(info));
    info_slot.push_back(s);
  }
  std::vector<char> alive(infos.size(), 1);
  if (opts.details) read_process_details(proc.get(), infos, alive, threads);

  constexpr std::uint32_t kNone = UINT32_MAX;
  std::vector<std::uint32_t> index_of_slot(scanner.size(), kNone);
  for (std::size_t i = 0; i < infos.size(); ++i) {
    if (!alive[i]) {
      ++table.vanished;
      continue;
    }
    index_of_slot[info_slot[i]] = table.add_process(std::move(infos[i]));
  }
  for (auto& list : refs) {
    for (const Ref& r : list) {
      if (index_of_slot[r.slot] != kNone) table.add_fd(r.inode, index_of_slot[r.slot], r.fd);
    }
    std::vector<Ref>().swap(list); // at 1M sockets, do not hold two copies of every reference
  }
  table.finalize();
  return table;
}

core::Result<core::OwnerTable> scan_owners_of(const core::FsRoot& root,
                                              const std::vector<core::ProcessInfo>& procs) {
  OwnerScanOptions opts;
  opts.details = false; // known: copied from procs below
  for (const auto& p : procs)
    opts.only_pids.push_back(p.pid);
  if (opts.only_pids.empty()) {
    core::OwnerTable empty;
    empty.scanned = true;
    empty.finalize();
    return empty;
  }
  auto table = scan_owners(root, opts);
  if (!table) return table;
  for (auto& info : table->mutable_processes()) {
    auto known = std::find_if(procs.begin(), procs.end(),
                              [&](const core::ProcessInfo& p) { return p.pid == info.pid; });
    if (known == procs.end()) continue;
    const std::uint32_t fds = info.fd_count;
    info = *known;
    info.fd_count = fds;
  }
  return table;
}

std::optional<std::uint32_t> parse_socket_link(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (!link.starts_with(kPrefix) || !link.ends_with(']')) return std::nullopt;
  return parse_number<std::uint32_t>(link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1));
}

std::optional<std::uint32_t> parse_status_uid(std::string_view status) {
  return parse_number<std::uint32_t>(first_word(line_value(status, "Uid:")));
}

std::optional<std::uint32_t> parse_status_fdsize(std::string_view status) {
  return parse_number<std::uint32_t>(first_word(line_value(status, "FDSize:")));
}

std::optional<std::uint64_t> parse_nofile_soft_limit(std::string_view limits) {
  std::string_view soft = first_word(line_value(limits, "Max open files"));
  if (soft == "unlimited") return UINT64_MAX;
  return parse_number<std::uint64_t>(soft);
}

std::string parse_cgroup_path(std::string_view cgroup) {
  // Lines are "hierarchy-ID:controllers:path"; the path itself may contain ':'.
  auto path_of = [](std::string_view line) -> std::optional<std::string_view> {
    std::size_t a = line.find(':');
    if (a == std::string_view::npos) return std::nullopt;
    std::size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) return std::nullopt;
    return line.substr(b + 1);
  };
  std::optional<std::string_view> first;
  for (std::size_t pos = 0; pos < cgroup.size();) {
    std::size_t eol = cgroup.find('\n', pos);
    if (eol == std::string_view::npos) eol = cgroup.size();
    std::string_view line = cgroup.substr(pos, eol - pos);
    pos = eol + 1;
    auto path = path_of(line);
    if (!path) continue;
    if (line.starts_with("0::")) return std::string(*path);
    if (!first) first = path;
  }
  return first ? std::string(*first) : std::string();
}

std::string parse_cmdline(std::string_view raw) {
  while (!raw.empty() && raw.back() == '\0')
    raw.remove_suffix(1);
  std::string out(raw);
  std::replace(out.begin(), out.end(), '\0', ' ');
  return out;
}

} // namespace sockdoctor::collect
