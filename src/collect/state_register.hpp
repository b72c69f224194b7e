// The eBPF state register: its host (loads, attaches, optionally pins, streams transitions) and
// its readers (the pinned maps, looked up by socket cookie). See docs/tracing.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "collect/state_register_table.hpp"
#include "collect/unique_fd.hpp"
#include "core/error.hpp"
#include "core/fs_root.hpp"
#include "core/tcp_state.hpp"
#include "core/traced_socket.hpp"

namespace sockdoctor::collect {

inline constexpr const char* kRegisterPinRoot = "/sys/fs/bpf/sockdoctor";
inline constexpr std::uint32_t kRegisterDefaultEntries = 131072; // SR_DEFAULT_ENTRIES
inline constexpr std::uint32_t kRegisterDefaultRingBytes = 4u << 20;

struct StateRegisterOptions {
  // Sockets tracked at once (rounded up to a power of two of sets of 4; when a set is full the
  // entry a reader needs least is replaced and counted).
  std::uint32_t max_entries = kRegisterDefaultEntries;
  bool stream = false;                                  // fill the ring with transitions (`trace`)
  std::uint32_t ring_bytes = kRegisterDefaultRingBytes; // rounded up to a power of two >= 4096
  std::uint32_t filter_netns = 0; // stream only this netns inode (the register tracks all)
  std::uint16_t filter_port = 0;  // stream only this local or peer port
  bool time_wait = true;          // attach the tw timer programs if tw_timer_handler is found
  // Entry times from jiffies instead of a clock read per event: up to one jiffy early (4 ms at
  // HZ=250), a sixth less CPU per event. For hosts of the register alone (serve, `trace
  // --register-only`), whose ages are shown to the second; ignored when streaming.
  bool tick_clock = false;
  // No entry while a socket is opening (SYN_SENT, SYN_RECV, ESTABLISHED, LISTEN): one is made at
  // its first closing transition, so closing states keep exact ages and closers, and churn
  // costs about half the map work. Opening states, connect/accept/listen owners and "born
  // traced" are then unknown: for hosts of the register alone; ignored when streaming.
  bool lazy_entries = false;
  // Pin the maps under <pin_root>/register so that other processes can read them. The host
  // replaces the pins of a host that is gone, and fails if a live host holds them.
  bool pin = false;
  std::string pin_root = kRegisterPinRoot;
  mode_t pin_mode = 0600; // of the pinned files: who may read the register
  core::FsRoot root;      // /proc: the host's own start time, config.gz (CONFIG_HZ)
};

// What the host found while starting (for -v and the trace header).
struct RegisterStartReport {
  std::uint64_t load_us = 0;     // open + load + attach (start-up of the register)
  std::uint64_t kallsyms_us = 0; // finding tw_timer_handler (the kernel's lookup)
  std::string time_wait_note;    // why TIME_WAIT is not traced, "" if it is
  std::string pin_dir;           // where the maps are pinned, "" if not
  std::string replaced_pin_note; // "replaced the pins of pid N (gone)", "" if none
};

class RegisterReader;

// Hosts the register: while this object lives the programs are attached. The destructor (or
// stop()) detaches them and removes the pins it made.
class StateRegister {
public:
  static core::Result<StateRegister> start(const StateRegisterOptions& options);

  StateRegister(StateRegister&&) noexcept;
  StateRegister& operator=(StateRegister&&) = delete;
  ~StateRegister();

  const core::RegisterInfo& info() const;
  const RegisterStartReport& report() const;

  // Waits up to timeout_ms for streamed transitions and hands each decoded one to `sink`
  // (the kernel wakes the reader early only for a quarter-full ring, so call it at least every
  // 100 ms or so for a live display);
  // returns how many. A record that does not decode is counted in malformed_events(). EINTR
  // returns 0 so a signal handler's flag can be checked.
  using Sink = std::function<void(const core::SocketTransition&)>;
  core::Result<int> poll(int timeout_ms, const Sink& sink);
  std::uint64_t malformed_events() const;
  // Also hands every ring record, undecoded, to `raw` (recording fixtures; empty: off).
  using RawSink = std::function<void(std::span<const std::byte>)>;
  void set_raw_sink(RawSink raw);

  core::Result<core::RegisterCounters> counters() const;
  // Entries in the socket table now (reads the whole table).
  core::Result<std::uint64_t> count_entries() const;
  // Lookups on the live maps, as a reader of the pins would do them.
  core::Result<RegisterReader> reader() const;

  // Detaches and unpins now (idempotent).
  void stop();

private:
  struct Impl;
  explicit StateRegister(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Read side of a register hosted by another process (or by this one). Cheap to keep open.
class RegisterReader {
public:
  RegisterReader(RegisterReader&&) noexcept = default;
  RegisterReader& operator=(RegisterReader&&) = delete;

  const core::RegisterInfo& info() const { return info_; }

  // out[i] is the entry of cookies[i], or nullopt: not traced (older than the register, a
  // socket whose entry was replaced in a full set, or cookie 0). Each is one read of the
  // mapped table.
  core::Result<std::vector<std::optional<core::TracedSocket>>>
  lookup(std::span<const std::uint64_t> cookies) const;

  core::Result<core::RegisterCounters> counters() const;
  core::Result<std::uint64_t> count_entries() const;
  // Every entry as the kernel stores it (cookie, struct sr_entry bytes), for fixtures and
  // for callers that want the whole register rather than some cookies.
  using RawVisitor = std::function<void(std::uint64_t cookie, std::span<const std::byte> entry)>;
  core::Result<void> for_each_raw(const RawVisitor& visit) const;
  // The per-CPU counters as the kernel stores them, and the number of CPUs they are for.
  core::Result<std::pair<std::vector<std::byte>, std::size_t>> raw_counters() const;

  // The host still runs (its pid exists with the same start time). A reader keeps working
  // after the host exits, but the entries no longer change.
  bool host_alive(const core::FsRoot& root = {}) const;

private:
  friend class StateRegister;
  friend core::Result<RegisterReader> open_pinned_register(const std::string&, const core::FsRoot&);
  RegisterReader(RegisterTable table, UniqueFd counters, core::RegisterInfo info);
  RegisterTable table_;
  UniqueFd counters_;
  core::RegisterInfo info_;
};

// Opens <pin_root>/register. NotFound: no host pinned one; Unavailable: pins of another ABI
// version, or of a host that is gone (stale: a new host will replace them); PermissionDenied:
// the pins' mode does not let this user read them (or bpf() is refused).
core::Result<RegisterReader> open_pinned_register(const std::string& pin_root = kRegisterPinRoot,
                                                  const core::FsRoot& root = {});

// CLOCK_BOOTTIME now, in nanoseconds (the register's clock).
std::uint64_t boot_time_ns();

} // namespace sockdoctor::collect
