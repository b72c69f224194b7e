// Text and JSON for `sockdoctor kill`, and its audit line. Every process name and command line is
// escaped (escape.hpp): they are attacker-controlled.
#include "render/kill_report.hpp"

#include <fmt/format.h>

#include <map>
#include <ostream>
#include <string_view>

#include "render/escape.hpp"
#include "render/json_writer.hpp"
#include "render/socket_list.hpp"
#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

constexpr std::string_view kOutcomes[] = {"destroyed",     "already_gone",  "stale",
                                          "state_changed", "not_supported", "not_permitted",
                                          "failed"};

// "13650/order-sync" (+N when more processes share it), "-" when nobody holds it. Raw bytes:
// callers escape for where it goes.
std::string owner_raw(const core::Snapshot& snap, const core::TcpSocket& s) {
  if (s.inode == 0) return "-";
  const auto refs = snap.owners.owners_of(s.inode);
  if (refs.empty()) return "?";
  const auto& p = snap.owners.process(refs.front().process_index);
  std::string out = fmt::format("{}/{}", p.pid, p.comm);
  if (refs.size() > 1) out += fmt::format(",+{}", refs.size() - 1);
  return out;
}

const analyze::DestroyEffect* effect_of(const KillView& v, const core::TcpSocket& s) {
  // No inode: nobody holds it (orphan, TIME_WAIT entry, request socket).
  return analyze::effect_for(v.effects, s.state, s.inode == 0);
}

std::string effect_text(const analyze::DestroyEffect& e) {
  std::string text = e.label + ": " + e.result;
  if (e.rst) text += *e.rst ? ", a RST is sent to the peer" : ", no RST is sent";
  if (!e.owner_sees.empty()) text += ". Owner: " + e.owner_sees;
  return text + ". Peer: " + e.peer_sees + ".";
}

void render_dry_run(std::ostream& out, const KillView& v, bool wide) {
  std::vector<std::uint32_t> rows;
  for (const auto& r : v.rows)
    rows.push_back(r.index);
  SocketListView list{v.snapshot, rows, v.ages, true};
  if (!rows.empty()) render_socket_table(out, list, {.wide = wide, .header = true});
  out << fmt::format("\nDry run: {} socket{} would be destroyed; nothing was touched. Run again "
                     "with --yes to destroy {}.\n",
                     rows.size(), rows.size() == 1 ? "" : "s", rows.size() == 1 ? "it" : "them");
  if (v.age_unknown + v.too_young > 0)
    out << fmt::format("--older-than left out {} younger socket{} and {} whose age is unknown.\n",
                       v.too_young, v.too_young == 1 ? "" : "s", v.age_unknown);
  // What destroying does, once per kind of socket in the plan.
  std::vector<analyze::DestroyEffect> seen;
  for (const auto& r : v.rows) {
    const auto* e = effect_of(v, v.snapshot->sockets[r.index]);
    if (e == nullptr) continue;
    bool dup = false;
    for (const auto& s : seen)
      dup = dup || s.label == e->label;
    if (!dup) seen.push_back(*e);
  }
  if (!seen.empty()) {
    out << "\nWhat destroying does on this kernel:\n";
    render_destroy_effects(out, seen, 80);
  }
}

void render_results(std::ostream& out, const KillView& v) {
  out << fmt::format("{:<14} {:<11} {:<23} {:<23} {}\n", "RESULT", "STATE", "LOCAL", "PEER",
                     "PROCESS");
  for (const auto& r : v.rows) {
    const auto& s = v.snapshot->sockets[r.index];
    std::string line =
        fmt::format("{:<14} {:<11} {:<23} {:<23} {}", r.result, core::ss_name(s.state),
                    core::to_string(s.local), core::to_string(s.peer),
                    escape_for_terminal(owner_raw(*v.snapshot, s)));
    if (r.result == "stale")
      line += fmt::format("  (cookie {} listed, {} found)", s.cookie, r.other_cookie);
    if (!r.detail.empty()) line += "  (" + escape_for_terminal(r.detail) + ")";
    out << line << '\n';
  }
  out << kill_summary(v.rows) << '\n';
}

} // namespace

std::string kill_summary(const std::vector<KillRow>& rows) {
  std::map<std::string_view, int> n;
  for (const auto& r : rows)
    ++n[r.result];
  std::string out;
  for (auto name : kOutcomes) {
    if (n[name] == 0 && name != "destroyed") continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", n[name], name);
  }
  return out;
}

void render_destroy_effects(std::ostream& out,
                            std::span<const analyze::DestroyEffect> effects,
                            int width) {
  for (const auto& e : effects)
    out << wrap_text(effect_text(e), width, 2, 4) << '\n';
}

void render_kill_text(std::ostream& out, const KillView& v, bool wide) {
  if (v.rows.empty()) {
    out << "No socket matches: nothing to destroy.\n";
    if (v.age_unknown + v.too_young > 0)
      out << fmt::format("--older-than left out {} younger socket{} and {} whose age is "
                         "unknown.\n",
                         v.too_young, v.too_young == 1 ? "" : "s", v.age_unknown);
    return;
  }
  if (v.dry_run)
    render_dry_run(out, v, wide);
  else
    render_results(out, v);
}

void render_kill_json(std::ostream& out, const KillView& v) {
  JsonWriter w(out);
  w.begin_object().key("schema_version").number(1).key("dry_run").boolean(v.dry_run);
  w.key("sockets").begin_array(true);
  for (const auto& r : v.rows) {
    const auto& s = v.snapshot->sockets[r.index];
    w.begin_object()
        .key("state")
        .string(core::snake_name(s.state))
        .key("local")
        .string(core::to_string(s.local))
        .key("peer")
        .string(core::to_string(s.peer))
        .key("cookie")
        .string(std::to_string(s.cookie))
        .key("netns")
        .number(s.netns_ino)
        .key("owner")
        .string(owner_raw(*v.snapshot, s));
    if (!v.ages.empty() && v.ages[r.index].seconds)
      w.key("age_seconds").number_trimmed(*v.ages[r.index].seconds, 3);
    if (!v.dry_run) {
      w.key("result").string(r.result).key("errno").number(r.err);
      if (r.other_cookie != 0) w.key("found_cookie").string(std::to_string(r.other_cookie));
      if (!r.detail.empty()) w.key("detail").string(r.detail);
    }
    w.end_object();
  }
  w.end_array();
  w.key("summary").begin_object().key("matched").number(v.rows.size());
  if (!v.dry_run) {
    std::map<std::string_view, int> n;
    for (const auto& r : v.rows)
      ++n[r.result];
    for (auto name : kOutcomes)
      w.key_escaped(name).number(n[name]);
  }
  w.key("left_out_age_unknown").number(v.age_unknown).key("left_out_younger").number(v.too_young);
  w.end_object().end_object();
  w.finish();
}

std::string audit_line(const AuditActor& who, const core::Snapshot& snap, const KillRow& row) {
  const auto& s = snap.sockets[row.index];
  auto quoted = [](std::string_view raw) {
    std::string body;
    append_json_string_body(body, raw); // escapes quotes, controls, bidi: one safe line
    return "\"" + body + "\"";
  };
  return fmt::format("sockdoctor-kill result={} errno={} uid={} user={} login={} pid={} "
                     "netns={} cookie={} state={} local={} peer={} owner={} cmd={}",
                     row.result.empty() ? "none" : row.result, row.err, who.uid,
                     quoted(who.user.empty() ? "-" : who.user),
                     quoted(who.login.empty() ? "-" : who.login), who.pid,
                     s.netns_ino != 0 ? s.netns_ino : who.own_netns, s.cookie,
                     core::snake_name(s.state), core::to_string(s.local), core::to_string(s.peer),
                     quoted(owner_raw(snap, s)), quoted(who.command));
}

} // namespace sockdoctor::render
