// One libbpf runtime for every eBPF user (owner iterator, state register): a captured libbpf
// log, a once-per-process probe, errno -> core::Error with the capability named, bpffs pins.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "collect/unique_fd.hpp"
#include "core/error.hpp"

namespace sockdoctor::collect {

// What this process can do with BPF, probed once (the first call) and cached.
struct BpfProbe {
  bool compiled = false;      // built with SOCKDOCTOR_HAVE_BPF
  bool kernel_btf = false;    // /sys/kernel/btf/vmlinux exists (CO-RE and tp_btf need it)
  bool cap_bpf = false;       // effective capabilities of this process
  bool cap_perfmon = false;   //   (CAP_SYS_ADMIN stands in for both)
  bool cap_sys_admin = false; //
  bool cap_syslog = false;    // /proc/kallsyms shows addresses (kptr_restrict=1 needs it)
  bool map_create = false;    // a one-element BPF_MAP_CREATE succeeded
  core::Error why_not;        // code Unavailable or PermissionDenied when !usable()

  bool usable() const { return compiled && kernel_btf && map_create; }
};
const BpfProbe& bpf_probe();

// The probe's verdict as a Result: the one line to show when eBPF cannot run here.
core::Result<void> bpf_usable();

// "CAP_BPF and CAP_PERFMON", "CAP_PERFMON", ... of the two this process lacks; "" if none.
std::string missing_bpf_capabilities();

// libbpf messages go to a bounded in-memory log; they are printed to stderr as they come only
// when asked: set_bpf_verbosity(1) (-v) prints warnings and notes, 2 (-vv) or
// SOCKDOCTOR_BPF_DEBUG=1 everything, the verifier's log included. Installing is idempotent.
void install_bpf_log();
void set_bpf_verbosity(int level);
// The last `max_lines` libbpf messages (oldest first), to explain a failed load.
std::vector<std::string> bpf_log_tail(std::size_t max_lines);

// A failed BPF step as an error: EPERM/EACCES -> PermissionDenied naming what is missing;
// ENOENT, EINVAL, EOPNOTSUPP, ENOSYS, E2BIG, ESRCH -> Unavailable with `kernel_hint` (what
// the kernel must have); anything else -> Failed. Message: "<context>: <strerror> (<why>)".
core::Error bpf_error(std::string_view context, int err, std::string_view kernel_hint = {});

// A program that cannot open, load or attach means "this machine cannot" (not a transient
// failure): Failed becomes Unavailable, so callers fall back (the /proc scan, sock_diag).
core::Error bpf_unavailable(core::Error e);

// Loads a light skeleton: `load(log_buf, log_size)` returns 0 or -errno. The verifier's log is
// collected when the bpf log prints debug lines (-vv, SOCKDOCTOR_BPF_DEBUG=1) and added to it:
// the kernel loads a light skeleton's programs, past libbpf's log. Returns 0 or the errno to
// report: the loader program reports a program the kernel refused as EINVAL, so without a BPF
// capability that becomes EPERM, as a full skeleton's load said.
int load_light_skeleton(const std::function<int(char* log_buf, std::uint32_t log_size)>& load);

// Microseconds since `start` (steady clock): the load and read times the BPF users report.
std::uint64_t micros_since(std::chrono::steady_clock::time_point start);

// Reads a BPF iterator to its end in `chunk`-byte reads. `decode` gets the bytes not yet
// consumed and returns how many it consumed (whole records): a record cut by the end of a read()
// is carried over to the next (seq_file never cuts one, but nothing here relies on that). Fails
// on a read error, past `max_bytes`, or when the output ends inside a record; errors start with
// `what` ("eBPF owner scan").
core::Result<void>
read_bpf_iterator(int fd,
                  std::string_view what,
                  std::size_t chunk,
                  std::uint64_t max_bytes,
                  const std::function<std::size_t(std::span<const std::byte>)>& decode);

// ---- bpffs ----

inline constexpr std::string_view kBpffsMount = "/sys/fs/bpf";

bool is_bpffs(const std::string& path);
// Mounts bpffs at `mount_point` if nothing is mounted there (root; mode 0700 like systemd).
core::Result<void> ensure_bpffs(const std::string& mount_point = std::string(kBpffsMount));
// mkdir -p below a bpffs mount (mode 0755 so that readers can traverse).
core::Result<void> make_pin_dir(const std::string& path);
core::Result<void> pin_object(int fd, const std::string& path, mode_t mode);
// BPF_OBJ_GET; read_only asks for a read-only map fd (enough for lookups).
core::Result<UniqueFd> open_pinned_object(const std::string& path, bool read_only);
// Removes a pin (ENOENT is success).
core::Result<void> unpin_object(const std::string& path);

} // namespace sockdoctor::collect
