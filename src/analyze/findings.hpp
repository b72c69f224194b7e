// The diagnosis model: findings (what is wrong, who, since when, why, what to do) and a summary.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/tcp_state.hpp"
#include "core/workload.hpp"

namespace sockdoctor::analyze {

enum class Severity : std::uint8_t { Info = 0, Warning = 1, Critical = 2 };

// "info", "warning", "critical".
std::string_view severity_name(Severity s);

// One fact behind a finding. key is stable snake_case (JSON); label is for people.
using EvidenceValue =
    std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;
struct EvidenceItem {
  std::string key;
  std::string label;
  EvidenceValue value;
};

struct ProcessRef {
  std::int32_t pid = 0;
  std::string comm;    // raw, attacker-controlled: escape on output
  std::string cmdline; // raw, attacker-controlled
};

struct Finding {
  std::string id; // rule id, e.g. "close_wait_leak"; several findings may share one
  Severity severity = Severity::Info;
  std::string title;
  std::optional<ProcessRef> process;
  core::Workload workload; // the process's unit, container, pod (or the orphans' cgroup's)
  std::optional<std::string> peer;
  std::uint64_t count = 0;
  std::optional<double> oldest_age_seconds;
  bool oldest_age_lower_bound = false; // the oldest socket may be older still
  std::vector<EvidenceItem> evidence;
  std::string explanation;
  std::vector<std::string> remedies;

  void add(std::string key, std::string label, EvidenceValue value) {
    evidence.push_back({std::move(key), std::move(label), std::move(value)});
  }
  const EvidenceItem* find(std::string_view key) const;
};

struct Summary {
  std::uint64_t total_sockets = 0;
  std::array<std::uint64_t, core::kMaxTcpState + 1> per_state{}; // indexed by TcpState
  bool owners_scanned = false;
  std::uint32_t owners_denied = 0;        // processes whose fds could not be read
  std::string owners_denied_lacking;      // capabilities whose absence explains it, or ""
  std::uint32_t owners_vanished = 0;      // processes that exited during the scan
  std::uint64_t unattributed_sockets = 0; // have an inode, but no process was found for it
};

struct Diagnosis {
  std::vector<Finding> findings; // most severe first
  Summary summary;
  std::string ages_note; // where the findings' ages come from, for this kernel ("" if no finding)

  // Info when there are no findings.
  Severity worst() const;
  bool owners_incomplete() const {
    return !summary.owners_scanned || summary.owners_denied > 0 || summary.unattributed_sockets > 0;
  }
};

// Most severe first, then larger counts, then older, then by id and title for a stable order.
void sort_findings(std::vector<Finding>& findings);

} // namespace sockdoctor::analyze
