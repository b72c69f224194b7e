// What is known of a socket beyond the sample it appears in: its owner, the process that held it
// before it became a TIME_WAIT entry, and its best age. One-shot commands know only the sample;
// `top`'s tracker adds owners carried across samples and first-seen ages; the eBPF state register
// adds exact ages and the closer of every TIME_WAIT. The host model asks through this interface.
#pragma once

#include <cstdint>
#include <string>

#include "analyze/age.hpp"
#include "core/kernel_settings.hpp"
#include "core/owner.hpp"
#include "core/socket.hpp"

namespace sockdoctor::analyze {

// Owner pid values that are not processes.
inline constexpr std::int32_t kOwnerPending = -1; // has an inode, but no owner scan named it yet
inline constexpr std::int32_t kNoOwner = 0;       // inode 0: still in an accept queue, or orphaned

class SocketKnowledge {
public:
  virtual ~SocketKnowledge() = default;
  // The process holding s now: a pid (the lowest when shared), kOwnerPending or kNoOwner.
  virtual std::int32_t owner(const core::TcpSocket& s) const = 0;
  // The process that held s while it was a full socket (0 if unknown): a TIME_WAIT entry keeps
  // its connection's cookie, so this names the process that closed it.
  virtual std::int32_t last_holder(const core::TcpSocket& s) const = 0;
  // Details of a process this knowledge has seen; nullptr if none.
  virtual const core::ProcessInfo* process(std::int32_t pid) const = 0;
  // The best age of s in its state.
  virtual Age age(const core::TcpSocket& s, const core::KernelSettings& k) const = 0;
};

} // namespace sockdoctor::analyze
