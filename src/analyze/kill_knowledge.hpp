// What SOCK_DESTROY (`sockdoctor kill`, `ss -K`) does to a socket in each TCP state on this
// kernel, and what its owner and its peer see afterwards: for `explain kill`, `kill --help` and
// kill's own report. Every sentence is checked against the v6.18 source (tcp_abort) and was
// measured on 6.18 (tests/tools/kill_states.py, docs/kernel-behaviour.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/kernel_settings.hpp"
#include "core/tcp_state.hpp"

namespace sockdoctor::analyze {

struct DestroyEffect {
  core::TcpState state = core::TcpState::Unknown;
  bool orphan = false;     // no process holds it (after close(), or a TIME_WAIT-style entry)
  std::string label;       // "CLOSE_WAIT", "FIN_WAIT2 orphaned"
  std::string result;      // "destroyed", "not supported (EOPNOTSUPP)", ...
  std::optional<bool> rst; // a RST goes to the peer; nullopt when nothing is destroyed
  std::string owner_sees;  // "" for orphans
  std::string peer_sees;
  std::string source; // kernel file: function (version)
};

// Every state kill can meet, held and orphaned where that differs, for this kernel's version
// and CONFIG_INET_DIAG_DESTROY.
std::vector<DestroyEffect> destroy_effects(const core::KernelSettings& k);

// The effect that applies to one listed socket (orphan: inode 0).
const DestroyEffect*
effect_for(const std::vector<DestroyEffect>& effects, core::TcpState state, bool orphan);

} // namespace sockdoctor::analyze
