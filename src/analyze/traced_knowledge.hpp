// What the eBPF state register adds to any other knowledge of a socket: the exact time it
// entered its state (age basis "traced") and, for a TIME_WAIT entry, the process that closed
// it. Sockets the register did not see keep the answers of the knowledge it wraps.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "analyze/socket_knowledge.hpp"
#include "core/sample.hpp"

namespace sockdoctor::analyze {

class TracedKnowledge : public SocketKnowledge {
public:
  // Both must outlive this object. `cgroup_paths` (the sample's, may be nullptr) gives processes
  // known only from the register the cgroup path of the id it recorded, so a closer that has
  // exited is still named by its unit, container or pod.
  TracedKnowledge(const SocketKnowledge& base,
                  const core::TracedView& traced,
                  const std::unordered_map<std::uint64_t, std::string>* cgroup_paths = nullptr);

  std::int32_t owner(const core::TcpSocket& s) const override { return base_.owner(s); }
  std::int32_t last_holder(const core::TcpSocket& s) const override;
  const core::ProcessInfo* process(std::int32_t pid) const override;
  Age age(const core::TcpSocket& s, const core::KernelSettings& k) const override;

private:
  const SocketKnowledge& base_;
  const core::TracedView& traced_;
  // Processes known only from the register (they may have exited since): pid, uid, comm, cgroup.
  std::unordered_map<std::int32_t, core::ProcessInfo> seen_;
};

} // namespace sockdoctor::analyze
