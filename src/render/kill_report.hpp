// `sockdoctor kill`'s output: the dry run (the sockets it would destroy and what that does on
// this kernel), the result of every destroy, JSON for both, and the audit line per socket.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "analyze/age.hpp"
#include "analyze/kill_knowledge.hpp"
#include "core/snapshot.hpp"

namespace sockdoctor::render {

// One socket of the plan and, once acted on, what became of it.
struct KillRow {
  std::uint32_t index = 0;        // into snapshot->sockets
  std::string result;             // collect::outcome_name(); "" = not acted on (dry run)
  int err = 0;                    // the kernel's errno for SOCK_DESTROY (0: success or not sent)
  std::uint64_t other_cookie = 0; // "stale": the cookie of the socket found in its place
  std::string detail;             // "failed": what went wrong
};

struct KillView {
  const core::Snapshot* snapshot = nullptr;
  std::span<const analyze::Age> ages; // parallel to snapshot->sockets; empty: no ages
  std::vector<KillRow> rows;
  bool dry_run = true;
  std::uint32_t age_unknown = 0;               // left out by --older-than: no age known
  std::uint32_t too_young = 0;                 // left out by --older-than: younger
  std::vector<analyze::DestroyEffect> effects; // this kernel's, for the states in rows
};

// Dry run: the socket table (as `ls` prints it), then per state what destroying does here.
// --yes: one line per socket with its result, then the counts.
void render_kill_text(std::ostream& out, const KillView& view, bool wide);

// {"schema_version":1,"dry_run":...,"sockets":[{..., "result":...}],"summary":{...}}
void render_kill_json(std::ostream& out, const KillView& view);

// "CLOSE_WAIT: a RST is sent to the peer. Owner: ... Peer: ..." for each effect, wrapped; what
// `kill --help` and the dry run print.
void render_destroy_effects(std::ostream& out,
                            std::span<const analyze::DestroyEffect> effects,
                            int width);

// Who acted, for the audit trail.
struct AuditActor {
  std::uint32_t uid = 0;
  std::string user;  // name of uid ("" if none)
  std::string login; // login name of the session (getlogin), "" if none
  std::int32_t pid = 0;
  std::string command;         // the command line, arguments joined by spaces
  std::uint32_t own_netns = 0; // inode of sockdoctor's namespace: sockets listed with netns 0
};

// One line, key=value, values that may hold attacker-controlled text quoted and escaped:
// sockdoctor-kill result=destroyed errno=0 uid=0 user=root login=- pid=42 netns=4026531840
// cookie=4097 state=close_wait local=127.0.0.1:53456 peer=127.0.0.1:8080 owner="13650/x"
// cmd="sockdoctor kill --yes ...". No newline.
std::string audit_line(const AuditActor& who, const core::Snapshot& snap, const KillRow& row);

// The counts line: "3 destroyed, 1 already gone, 0 stale, ..." (only non-zero ones after the
// first).
std::string kill_summary(const std::vector<KillRow>& rows);

} // namespace sockdoctor::render
