// What the eBPF state register knows: per-socket entries (exact state age, the owner learned in
// syscall context) and the transitions it streams. Times are CLOCK_BOOTTIME nanoseconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/address.hpp"
#include "core/tcp_state.hpp"

namespace sockdoctor::core {

// How the register learned who the owner is. Only transitions that run in the process's own
// syscall teach an owner; the pid seen in softirq (ESTABLISHED->CLOSE_WAIT) never does.
enum class OwnerRole : std::uint8_t {
  Unknown = 0, // no syscall transition seen (socket older than the register)
  Connect = 1, // called connect() (CLOSE -> SYN_SENT)
  Listen = 2,  // called listen() (CLOSE -> LISTEN)
  Accept = 3,  // a child socket: the owner of its listener (accept() itself is not traced)
  Close = 4,   // called close()/shutdown() first or last (-> FIN_WAIT1, -> LAST_ACK)
};

// "unknown", "connect", "listen", "accept", "close" (JSON values).
std::string_view owner_role_name(OwnerRole role);

struct TracedOwner {
  std::int32_t pid = 0; // tgid in the initial pid namespace; 0 = unknown
  std::uint32_t uid = 0;
  std::uint64_t cgroup_id = 0; // cgroup v2 id (the inode of the cgroup directory)
  std::string comm;            // raw, attacker-controlled: escape before printing
  OwnerRole role = OwnerRole::Unknown;

  bool known() const { return pid != 0; }
};

// One entry of the register, looked up by socket cookie.
struct TracedSocket {
  TcpState state = TcpState::Unknown;
  std::uint64_t entered_boot_ns = 0; // when the current state began (CLOCK_BOOTTIME)
  bool entered_exact = false;        // the register saw the entry into the state
  bool entered_from_timer = false;   // ...derived from the tw timer (exact to one jiffy)
  bool born_traced = false;          // created (connect/listen/accepted) while traced
  bool mini_socket = false;          // a TIME_WAIT / FIN_WAIT2 timewait mini-socket
  TracedOwner owner;

  // The owner closed it (close()/shutdown()): for TIME_WAIT, the process that closed first.
  bool closed_by_owner() const { return owner.role == OwnerRole::Close; }
};

enum class TransitionKind : std::uint8_t {
  State = 1,           // a state change of a full socket (or FIN_WAIT2 -> TIME_WAIT of a tw)
  TimeWaitStart = 2,   // the full socket was replaced by a timewait mini-socket
  TimeWaitRestart = 3, // the kernel restarted the TIME_WAIT timer (state unchanged)
  TimeWaitExpire = 4,  // the mini-socket's timer ran out
  TimeWaitKill = 5,    // the mini-socket was removed early (port reuse, RST, netns exit)
};

// "state", "time_wait_start", "time_wait_restart", "time_wait_expire", "time_wait_kill".
std::string_view transition_kind_name(TransitionKind kind);

// One record of the register's stream (`sockdoctor trace`).
struct SocketTransition {
  std::uint64_t time_boot_ns = 0;
  std::uint64_t cookie = 0;
  std::uint32_t netns_ino = 0;
  Endpoint local;
  Endpoint peer;
  TcpState old_state = TcpState::Unknown;
  TcpState new_state = TcpState::Unknown;
  TransitionKind kind = TransitionKind::State;
  std::optional<std::uint64_t> in_old_state_ns; // time spent in old_state, if its start was seen
  bool old_from_timer = false;                  // in_old_state_ns derived from the tw timer
  bool time_from_timer = false; // time_boot_ns derived from the tw timer (reported <= 50 ms late)
  bool tracked = true;          // the register had an entry (else: older socket or evicted)
  bool born_traced = false;
  TracedOwner owner;
};

// Age of a socket in its state by the register, when the entry is exact for the state the
// sample observed. A FIN_WAIT2 mini-socket that became TIME_WAIT without a timer event the
// register could see still gives its owner, but no age (use the timer estimate).
inline std::optional<std::uint64_t>
traced_age_ns(const TracedSocket& entry, TcpState observed, std::uint64_t now_boot_ns) {
  if (entry.state != observed || !entry.entered_exact || now_boot_ns < entry.entered_boot_ns)
    return std::nullopt;
  return now_boot_ns - entry.entered_boot_ns;
}

// The register itself: who hosts it and since when (a socket older than this is estimated).
struct RegisterInfo {
  std::int32_t host_pid = 0;
  std::uint64_t host_start_ticks = 0; // /proc/PID/stat field 22 of the host
  std::uint64_t started_boot_ns = 0;
  std::int64_t started_real_ns = 0; // CLOCK_REALTIME at started_boot_ns
  std::uint32_t max_entries = 0;
  bool time_wait_traced = false; // TIME_WAIT birth/death programs attached

  // Realtime nanoseconds of a CLOCK_BOOTTIME instant (same offset as at the start).
  std::int64_t to_real_ns(std::uint64_t boot_ns) const {
    return started_real_ns +
           (static_cast<std::int64_t>(boot_ns) - static_cast<std::int64_t>(started_boot_ns));
  }
};

// The register's counters, summed over CPUs. Nothing is lost silently: each is reported.
struct RegisterCounters {
  std::uint64_t transitions = 0;
  std::uint64_t inserts = 0;
  std::uint64_t deletes = 0;
  std::uint64_t insert_failures = 0;
  std::uint64_t ring_drops = 0;
  std::uint64_t tw_starts = 0;
  std::uint64_t tw_restarts = 0;
  std::uint64_t tw_expires = 0;
  std::uint64_t tw_kills = 0;
  std::uint64_t tw_untracked = 0;
  std::uint64_t owners_learned = 0;
  std::uint64_t superseded = 0;
  std::uint64_t listener_misses = 0;
  std::uint64_t tw_swept = 0; // FIN_WAIT2 -> TIME_WAIT changes found by the 50 ms sweep
  // Entries replaced in a full set of the table while their socket may still exist: its age
  // and closer are forgotten (raise --entries).
  std::uint64_t evictions = 0;
  // Entries replaced whose TIME_WAIT must have ended (older than 60 s): no loss. The register
  // alone never deletes a mini-socket's entry (it has no timer program); these make room.
  std::uint64_t reclaimed = 0;
  // Program runs the kernel skipped (bpf_prog_info.recursion_misses): a socket event that came
  // while the same program ran on that CPU (a softirq transition inside a syscall's) was not
  // seen. Known to the host only (its programs are not pinned); 0 for pinned readers.
  std::uint64_t skipped_runs = 0;
};

} // namespace sockdoctor::core
