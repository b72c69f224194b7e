// The state register on bpffs: pinning it whole, reading its info, telling stale pins apart.
#include "collect/state_register_pins.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "collect/bpf_runtime.hpp"
#include "collect/fs_read.hpp"
#include "collect/state_register_decode.hpp"

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>
#endif

namespace sockdoctor::collect {

std::string register_pin_dir(const std::string& pin_root) {
  return core::FsRoot::join(pin_root, "register");
}

bool register_host_alive(const core::RegisterInfo& info, const core::FsRoot& root) {
  if (info.host_pid <= 0) return false;
  auto stat = read_file(root.proc_path(std::to_string(info.host_pid) + "/stat"));
  if (!stat) return false;
  const auto start = parse_stat_starttime(*stat);
  return start && *start == info.host_start_ticks;
}

core::Result<void> remove_register_pins(const std::string& dir) {
  for (const char* name : {kPinSockets, kPinCounters, kPinInfo})
    if (auto r = unpin_object(dir + "/" + name); !r) return r;
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    const int e = errno;
    return core::fail("rmdir " + dir + ": " + std::strerror(e), e);
  }
  return {};
}

#ifdef SOCKDOCTOR_HAVE_BPF

namespace {

// The value size of a (pinned) map, to refuse one of another layout before reading it.
core::Result<std::uint32_t> map_value_size(int fd, const std::string& path) {
  bpf_map_info info{};
  std::uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    const int e = errno;
    return core::fail(path + ": map info: " + std::strerror(e), e);
  }
  return info.value_size;
}

core::Error other_version(const std::string& dir) {
  return core::Error{"state register at " + dir +
                         " was pinned by another sockdoctor version (record layout differs)",
                     0, core::ErrorCode::Unavailable};
}

} // namespace

core::Result<core::RegisterInfo> read_pinned_info(const std::string& dir) {
  const std::string path = dir + "/" + kPinInfo;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT)
      return core::fail(core::ErrorCode::NotFound,
                        "no state register is pinned at " + dir +
                            " (`sockdoctor trace --pin` or `sockdoctor serve` hosts one)",
                        e);
    return core::fail(path + ": " + std::strerror(e), e);
  }
  auto fd = open_pinned_object(path, /*read_only=*/true);
  if (!fd) return tl::unexpected(core::with_context("state register", fd.error()));
  auto size = map_value_size(fd->get(), path);
  if (!size) return tl::unexpected(size.error());
  if (*size != kRegisterInfoSize) return tl::unexpected(other_version(dir));
  std::byte value[kRegisterInfoSize];
  std::uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd->get(), &zero, value) != 0) {
    const int e = errno;
    return core::fail(path + ": lookup: " + std::strerror(e), e);
  }
  auto info = decode_register_info(value);
  if (!info) return tl::unexpected(other_version(dir));
  return info;
}

core::Result<void>
pin_register(int sockets_fd, int counters_fd, int info_fd, const std::string& dir, mode_t mode) {
  // bpffs refuses names with a dot.
  const std::string tmp = dir + "-new-" + std::to_string(::getpid());
  (void)remove_register_pins(tmp); // left by an earlier crash of a host with our pid
  if (::mkdir(tmp.c_str(), 0755) != 0) {
    const int e = errno;
    return core::fail("mkdir " + tmp + ": " + std::strerror(e), e);
  }
  const std::pair<int, const char*> pins[] = {
      {sockets_fd, kPinSockets}, {counters_fd, kPinCounters}, {info_fd, kPinInfo}};
  for (const auto& [fd, name] : pins) {
    if (auto r = pin_object(fd, tmp + "/" + name, mode); !r) {
      (void)remove_register_pins(tmp);
      return r;
    }
  }
  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    const int e = errno;
    (void)remove_register_pins(tmp);
    return core::fail("rename " + tmp + " -> " + dir + ": " + std::strerror(e) +
                          (e == ENOTEMPTY || e == EEXIST ? " (another host pinned it first)" : ""),
                      e);
  }
  return {};
}

#else

core::Result<core::RegisterInfo> read_pinned_info(const std::string& dir) {
  return core::fail(core::ErrorCode::Unavailable,
                    "state register at " + dir + ": built without eBPF");
}

core::Result<void> pin_register(int, int, int, const std::string& dir, mode_t) {
  return core::fail(core::ErrorCode::Unavailable, "pin " + dir + ": built without eBPF");
}

#endif

} // namespace sockdoctor::collect
