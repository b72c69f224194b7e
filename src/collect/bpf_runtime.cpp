// The shared libbpf runtime: probe, log capture, error mapping and bpffs pins.
#include "collect/bpf_runtime.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

namespace sockdoctor::collect {
namespace {

constexpr unsigned kCapSysAdmin = 21;
constexpr unsigned kCapSyslog = 34;
constexpr unsigned kCapPerfmon = 38;
constexpr unsigned kCapBpf = 39;
constexpr long kBpffsMagic = 0xcafe4a11;

constexpr std::string_view kNeedsCaps = "needs CAP_BPF and CAP_PERFMON, or root";

bool has_effective_cap(unsigned cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

// ---- libbpf log ----

struct BpfLog {
  std::mutex mu;
  std::deque<std::string> lines; // bounded: kMaxLines
  int verbosity = std::getenv("SOCKDOCTOR_BPF_DEBUG") != nullptr ? 2 : 0;
  [[maybe_unused]] static constexpr std::size_t kMaxLines = 256; // unused without BPF
};

BpfLog& the_log() {
  static BpfLog log;
  return log;
}

// One line into the bounded log, printed now if the verbosity asks for its level.
void log_line(std::string line, bool debug) {
  BpfLog& log = the_log();
  std::lock_guard lock(log.mu);
  // Every level is kept: a debug line often explains the warning after it.
  if (log.verbosity >= 2 || (log.verbosity == 1 && !debug))
    std::fprintf(stderr, "%s\n", line.c_str());
  if (log.lines.size() == BpfLog::kMaxLines) log.lines.pop_front();
  log.lines.push_back(std::move(line));
}

#ifdef SOCKDOCTOR_HAVE_BPF
__attribute__((format(printf, 2, 0))) int
libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[1024];
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(buf, sizeof buf, format, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string line(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
  while (!line.empty() && line.back() == '\n')
    line.pop_back();
  log_line(std::move(line), level == LIBBPF_DEBUG);
  return 0;
}
#endif

BpfProbe run_probe() {
  BpfProbe p;
  p.cap_bpf = has_effective_cap(kCapBpf);
  p.cap_perfmon = has_effective_cap(kCapPerfmon);
  p.cap_sys_admin = has_effective_cap(kCapSysAdmin);
  p.cap_syslog = has_effective_cap(kCapSyslog);
  p.kernel_btf = ::access("/sys/kernel/btf/vmlinux", R_OK) == 0;
#ifdef SOCKDOCTOR_HAVE_BPF
  p.compiled = true;
  install_bpf_log();
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sd_probe", 4, 4, 1, nullptr);
  if (fd >= 0) {
    p.map_create = true;
    ::close(fd);
  } else {
    p.why_not = bpf_error("eBPF unavailable: bpf(BPF_MAP_CREATE)", errno,
                          "a kernel with CONFIG_BPF_SYSCALL");
  }
  if (p.map_create && !p.kernel_btf) {
    p.why_not = core::Error{"eBPF unavailable: /sys/kernel/btf/vmlinux is missing (the kernel "
                            "needs CONFIG_DEBUG_INFO_BTF)",
                            ENOENT, core::ErrorCode::Unavailable};
  }
#else
  p.why_not = core::Error{"eBPF unavailable: built without eBPF (clang, bpftool, libbpf or "
                          "kernel BTF were missing at build time)",
                          0, core::ErrorCode::Unavailable};
#endif
  return p;
}

} // namespace

const BpfProbe& bpf_probe() {
  static const BpfProbe probe = run_probe();
  return probe;
}

core::Result<void> bpf_usable() {
  const BpfProbe& p = bpf_probe();
  if (p.usable()) return {};
  return tl::unexpected(p.why_not);
}

std::string missing_bpf_capabilities() {
  if (has_effective_cap(kCapSysAdmin)) return "";
  const bool bpf = has_effective_cap(kCapBpf), perfmon = has_effective_cap(kCapPerfmon);
  if (!bpf && !perfmon) return "CAP_BPF and CAP_PERFMON";
  if (!bpf) return "CAP_BPF";
  if (!perfmon) return "CAP_PERFMON";
  return "";
}

void install_bpf_log() {
#ifdef SOCKDOCTOR_HAVE_BPF
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_log); });
#endif
}

void set_bpf_verbosity(int level) {
  BpfLog& log = the_log();
  std::lock_guard lock(log.mu);
  log.verbosity = std::getenv("SOCKDOCTOR_BPF_DEBUG") != nullptr ? 2 : level;
}

std::vector<std::string> bpf_log_tail(std::size_t max_lines) {
  BpfLog& log = the_log();
  std::lock_guard lock(log.mu);
  const std::size_t n = std::min(max_lines, log.lines.size());
  return {log.lines.end() - static_cast<std::ptrdiff_t>(n), log.lines.end()};
}

// Adds text from outside libbpf (a light skeleton's verifier log) to the log, line by line, as
// debug messages: printed with -vv or SOCKDOCTOR_BPF_DEBUG=1, kept for bpf_log_tail.
static void bpf_log_text(std::string_view text) {
  while (!text.empty()) {
    const auto end = text.find('\n');
    if (const auto line = text.substr(0, end); !line.empty()) log_line(std::string(line), true);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

// Whether the log prints debug messages (-vv, SOCKDOCTOR_BPF_DEBUG=1): worth collecting them.
static bool bpf_log_debug() {
  BpfLog& log = the_log();
  std::lock_guard lock(log.mu);
  return log.verbosity >= 2;
}

core::Error bpf_unavailable(core::Error e) {
  if (e.code == core::ErrorCode::Failed) e.code = core::ErrorCode::Unavailable;
  return e;
}

int load_light_skeleton(const std::function<int(char*, std::uint32_t)>& load) {
  constexpr std::size_t kVerifierLogBytes = 1 << 20; // the kernel truncates a longer log
  std::vector<char> log(bpf_log_debug() ? kVerifierLogBytes : 0);
  const int err = load(log.empty() ? nullptr : log.data(), static_cast<std::uint32_t>(log.size()));
  if (!log.empty()) bpf_log_text(std::string_view(log.data(), ::strnlen(log.data(), log.size())));
  if (err == 0) return 0;
  return missing_bpf_capabilities().empty() ? -err : EPERM;
}

std::uint64_t micros_since(std::chrono::steady_clock::time_point start) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now() - start)
                                        .count());
}

core::Error bpf_error(std::string_view context, int err, std::string_view kernel_hint) {
  std::string msg = std::string(context) + ": " + std::strerror(err);
  core::ErrorCode code = core::ErrorCode::Failed;
  if (err == EPERM || err == EACCES) {
    code = core::ErrorCode::PermissionDenied;
    const std::string missing = missing_bpf_capabilities();
    msg += " (" + std::string(kNeedsCaps);
    if (!missing.empty()) msg += "; this process lacks " + missing;
    msg += ")";
  } else if (err == ENOENT || err == EINVAL || err == EOPNOTSUPP || err == ENOSYS || err == E2BIG ||
             err == ESRCH) {
    // EINVAL is also the verifier refusing a program: the libbpf log tells which.
    code = core::ErrorCode::Unavailable;
    if (!kernel_hint.empty())
      msg += " (" + std::string(kernel_hint) + "; SOCKDOCTOR_BPF_DEBUG=1 shows the libbpf log)";
  }
  return core::Error{std::move(msg), err, code};
}

// ---- bpffs ----

bool is_bpffs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kBpffsMagic;
}

core::Result<void> ensure_bpffs(const std::string& mount_point) {
  if (is_bpffs(mount_point)) return {};
  if (::mkdir(mount_point.c_str(), 0700) != 0 && errno != EEXIST) {
    const int e = errno;
    return core::fail("mkdir " + mount_point + ": " + std::strerror(e), e);
  }
  if (::mount("bpf", mount_point.c_str(), "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") !=
      0) {
    const int e = errno;
    return core::fail("mount bpffs on " + mount_point + ": " + std::strerror(e) +
                          (e == EPERM ? " (needs root: CAP_SYS_ADMIN)" : ""),
                      e);
  }
  return {};
}

core::Result<void> make_pin_dir(const std::string& path) {
  for (std::size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      const int e = errno;
      return core::fail("mkdir " + part + ": " + std::strerror(e), e);
    }
  }
  return {};
}

#ifdef SOCKDOCTOR_HAVE_BPF

core::Result<void> pin_object(int fd, const std::string& path, mode_t mode) {
  if (bpf_obj_pin(fd, path.c_str()) != 0) {
    const int e = errno;
    return core::fail("pin " + path + ": " + std::strerror(e), e);
  }
  if (::chmod(path.c_str(), mode) != 0) {
    const int e = errno;
    ::unlink(path.c_str());
    return core::fail("chmod " + path + ": " + std::strerror(e), e);
  }
  return {};
}

core::Result<UniqueFd> open_pinned_object(const std::string& path, bool read_only) {
  LIBBPF_OPTS(bpf_obj_get_opts, opts,
              .file_flags = read_only ? static_cast<__u32>(BPF_F_RDONLY) : 0u);
  const int fd = bpf_obj_get_opts(path.c_str(), &opts);
  if (fd < 0) {
    const int e = errno;
    return core::fail(path + ": " + std::strerror(e), e);
  }
  return UniqueFd(fd);
}

#else

core::Result<void> pin_object(int, const std::string& path, mode_t) {
  return core::fail(core::ErrorCode::Unavailable, "pin " + path + ": built without eBPF");
}

core::Result<UniqueFd> open_pinned_object(const std::string& path, bool) {
  return core::fail(core::ErrorCode::Unavailable, path + ": built without eBPF");
}

#endif

core::Result<void> unpin_object(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    const int e = errno;
    return core::fail("unpin " + path + ": " + std::strerror(e), e);
  }
  return {};
}

core::Result<void>
read_bpf_iterator(int fd,
                  std::string_view what,
                  std::size_t chunk,
                  std::uint64_t max_bytes,
                  const std::function<std::size_t(std::span<const std::byte>)>& decode) {
  std::vector<std::byte> buf(chunk);
  std::size_t carry = 0;
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data() + carry, buf.size() - carry);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      return core::fail(std::string(what) + ": read iterator: " + std::strerror(e), e);
    }
    if (n == 0) break;
    total += static_cast<std::uint64_t>(n);
    if (total > max_bytes)
      return core::fail(std::string(what) + ": iterator output exceeds " +
                        std::to_string(max_bytes >> 30) + " GiB");
    const std::size_t have = carry + static_cast<std::size_t>(n);
    const std::size_t used = decode(std::span<const std::byte>(buf.data(), have));
    carry = have - used;
    std::memmove(buf.data(), buf.data() + used, carry);
  }
  if (carry != 0) return core::fail(std::string(what) + ": iterator output ends inside a record");
  return {};
}

} // namespace sockdoctor::collect
