// `check`: runs every rule over one snapshot and returns the findings, most severe first.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "analyze/age.hpp"
#include "analyze/findings.hpp"
#include "core/kernel_settings.hpp"
#include "core/snapshot.hpp"

namespace sockdoctor::analyze {

struct DiagnoseOptions {
  double min_age_seconds = 60; // CLOSE_WAIT / half-closed FIN_WAIT2 younger than this are normal
  std::uint64_t close_wait_critical_count = 100; // per process
  double fd_critical_fraction = 0.8;             // of RLIMIT_NOFILE
  double port_warning_fraction = 0.5;            // of the ephemeral ports toward one destination
  double port_critical_fraction = 0.9;
  double limit_warning_fraction = 0.5; // tcp_max_tw_buckets, tcp_max_orphans
  double limit_critical_fraction = 0.9;
  std::uint64_t orphan_fin_wait2_info_count = 100; // per peer, bounded by tcp_fin_timeout
  std::size_t max_listed = 5;                      // peers, processes listed in evidence
};

Diagnosis diagnose(const core::Snapshot& snap,
                   const core::KernelSettings& kernel,
                   const DiagnoseOptions& opt = {});

namespace rules {

// What every rule needs, computed once: ages, listeners, owners.
class RuleContext {
public:
  RuleContext(const core::Snapshot& snap,
              const core::KernelSettings& kernel,
              const DiagnoseOptions& opt);

  const core::Snapshot& snap;
  const core::KernelSettings& kernel;
  const DiagnoseOptions& opt;

  const Age& age(std::size_t socket_index) const { return ages_[socket_index]; }
  // A LISTEN socket in the same netns binds this port (any address).
  bool is_listening_port(std::uint32_t netns, std::uint16_t port) const;
  // The LISTEN socket that s (an unaccepted child) belongs to: same netns, same port, same
  // address or a wildcard one. Index into snap.sockets.
  std::optional<std::size_t> listener_of(const core::TcpSocket& s) const;
  // Processes holding s, lowest pid first, each once.
  std::vector<const core::ProcessInfo*> holders(const core::TcpSocket& s) const;
  // Indices of LISTEN sockets.
  const std::vector<std::size_t>& listeners() const { return listeners_; }

private:
  std::vector<Age> ages_;
  std::vector<std::size_t> listeners_;
  std::map<std::pair<std::uint32_t, std::uint16_t>, std::vector<std::size_t>> listen_by_port_;
};

// "pid 1234 (java)" from raw data; renderers escape the whole text.
std::string describe_process(const core::ProcessInfo& p);
ProcessRef process_ref(const core::ProcessInfo& p);
// sk_acceptq_is_full() is "backlog > max": a full queue shows Recv-Q = Send-Q + 1. Listeners
// with backlog 0 and nothing queued are not full.
inline bool listener_full(const core::TcpSocket& l) {
  return l.state == core::TcpState::Listen && l.recv_q > 0 && l.recv_q >= l.send_q;
}

// Subject and verb for n of total sockets: "It has" (total 1), "All 3 have", "2 have", "1 has".
std::string subject(std::uint64_t n,
                    std::uint64_t total,
                    std::string_view plural_verb,
                    std::string_view singular_verb);
// "a (3), b (1)" for the first max entries of counts sorted by count; "+N more" after.
std::vector<std::string> top_counts(const std::map<std::string, std::uint64_t>& counts,
                                    std::size_t max);

void close_wait(const RuleContext& ctx, std::vector<Finding>& out); // rules_close_wait.cpp
void time_wait(const RuleContext& ctx, std::vector<Finding>& out);  // rules_time_wait.cpp
void fin_wait2(const RuleContext& ctx, std::vector<Finding>& out);  // rules_fin_wait.cpp
void queues(const RuleContext& ctx, std::vector<Finding>& out);     // rules_queues.cpp

} // namespace rules
} // namespace sockdoctor::analyze
