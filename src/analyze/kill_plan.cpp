// kill's selection rules: the typed filter made safe (no LISTEN unless named, never "everything"),
// durations, and the age test.
#include "analyze/kill_plan.hpp"

#include <cctype>
#include <cmath>
#include <string>

#include "core/parse.hpp"

namespace sockdoctor::analyze {
namespace {

// One number-and-unit step of a duration ("1.5h"): the seconds and the characters it used.
std::optional<std::pair<double, std::size_t>> duration_step(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'))
    ++i;
  auto number = core::parse_number<double>(s.substr(0, i));
  if (!number || !std::isfinite(*number) || *number < 0 || i == s.size()) return std::nullopt;
  double unit = 0;
  switch (s[i]) {
  case 's':
    unit = 1;
    break;
  case 'm':
    unit = 60;
    break;
  case 'h':
    unit = 3600;
    break;
  case 'd':
    unit = 86400;
    break;
  default:
    return std::nullopt;
  }
  return std::pair{*number * unit, i + 1};
}

bool names_listen(const std::vector<std::string>& words) {
  for (const auto& list : words) {
    std::string_view rest = list;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string word(core::trim(rest.substr(0, comma)));
      for (auto& c : word)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (word == "listen") return true;
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return false;
}

} // namespace

std::optional<double> parse_duration(std::string_view text) {
  text = core::trim(text);
  if (auto seconds = core::parse_number<double>(text)) // a bare number: seconds
    return std::isfinite(*seconds) && *seconds >= 0 ? seconds : std::nullopt;
  if (text.empty()) return std::nullopt;
  double total = 0;
  while (!text.empty()) {
    auto step = duration_step(text);
    if (!step) return std::nullopt;
    total += step->first;
    text.remove_prefix(step->second);
  }
  return total;
}

core::Result<KillSelection> build_kill_selection(const FilterArgs& args,
                                                 const std::string& older_than) {
  auto filter = build_socket_filter(args);
  if (!filter) return tl::unexpected(filter.error());
  KillSelection sel;
  sel.filter = std::move(*filter);
  sel.listen_named = names_listen(args.states);
  if (!sel.listen_named) sel.filter.state_mask &= ~core::state_bit(core::TcpState::Listen);
  if (!older_than.empty()) {
    sel.older_than_seconds = parse_duration(older_than);
    if (!sel.older_than_seconds)
      return core::fail("--older-than: expected a duration such as 90s, 5m, 2h or 1d, got '" +
                        older_than + "'");
  }
  const bool selects = !args.states.empty() || !args.pids.empty() || !args.comms.empty() ||
                       !args.ports.empty() || !args.peer.empty() || sel.older_than_seconds;
  if (!selects)
    return core::fail("kill needs at least one of --state, --pid, --comm, --port, --peer, "
                      "--older-than (use --state all to mean every state but LISTEN)");
  if ((sel.filter.state_mask & core::kAllStatesMask) == 0)
    return core::fail("--state: no state left to destroy (LISTEN is only touched when "
                      "--state names it: --state listen)");
  return sel;
}

KillPlan plan_kill(const HostModel& model, const KillSelection& sel) {
  KillPlan plan;
  const auto& snap = model.snapshot();
  for (std::uint32_t i = 0; i < snap.sockets.size(); ++i) {
    const auto& s = snap.sockets[i];
    if (!sel.filter.matches(s, snap.owners)) continue;
    if (sel.older_than_seconds) {
      const Age* age = i < model.ages.size() ? &model.ages[i] : nullptr;
      if (age == nullptr || !age->seconds) {
        ++plan.age_unknown;
        continue;
      }
      if (*age->seconds < *sel.older_than_seconds) {
        ++plan.too_young;
        continue;
      }
    }
    plan.rows.push_back(i);
  }
  return plan;
}

} // namespace sockdoctor::analyze
