// `explain kill`: what SOCK_DESTROY does per TCP state on this kernel (tcp_abort() in v6.18, and
// measured on 6.18 by tests/tools/kill_states.py), and the myths about `ss -K`.
#include <fmt/format.h>

#include "analyze/kernel_model.hpp"
#include "analyze/kill_knowledge.hpp"
#include "analyze/knowledge_parts.hpp"

namespace sockdoctor::analyze {
namespace {

using core::TcpState;

constexpr std::string_view kAbort =
    "net/ipv4/tcp.c: tcp_abort(), tcp_need_reset(); net/ipv4/tcp_diag.c: tcp_diag_destroy() "
    "(v6.18)";
constexpr std::string_view kAbortTw =
    "net/ipv4/tcp.c: tcp_abort() TCP_TIME_WAIT branch, inet_twsk_deschedule_put() (v6.18; "
    "absent in v5.19)";
constexpr std::string_view kAbortReq =
    "net/ipv4/tcp.c: tcp_abort() TCP_NEW_SYN_RECV branch, inet_csk_reqsk_queue_drop() (v6.18)";
constexpr std::string_view kAbortOrphan =
    "net/ipv4/tcp.c: tcp_abort() (v6.18); commit bac76cf89816 (6.11) removed the SOCK_DEAD test";
constexpr std::string_view kNoSocket =
    "net/ipv4/tcp_ipv4.c: tcp_v4_rcv() no_tcp_socket -> tcp_v4_send_reset() (v6.18)";

const std::string kFdOpen = "; the fd stays open until the application calls close()";
const std::string kOwnerAbort =
    "poll() reports ERR|HUP; the next recv() fails with ECONNABORTED, then send() fails with "
    "EPIPE (SIGPIPE unless MSG_NOSIGNAL)" +
    kFdOpen;
const std::string kOwnerAfterFin =
    "poll() reports ERR|HUP; recv() returns 0 (end of stream: the peer's FIN had arrived), the "
    "next send() fails with ECONNABORTED, then EPIPE" +
    kFdOpen;
const std::string kPeerReset = "gets a RST: its connection is reset (recv() fails with "
                               "ECONNRESET once it has read what was already queued)";
const std::string kPeerNoRstFin =
    "is sent nothing: it stays in FIN_WAIT2 (until tcp_fin_timeout if it closed, for ever if "
    "its application only shut down writing) and gets a RST only when it sends again";

DestroyEffect effect(TcpState s,
                     bool orphan,
                     std::string label,
                     bool rst,
                     std::string owner,
                     std::string peer,
                     std::string_view source) {
  return {s,   orphan,           std::move(label), "destroyed",
          rst, std::move(owner), std::move(peer),  std::string(source)};
}

// Version limits on top of the 6.18 behaviour (kernel-facts section 10).
void apply_version(DestroyEffect& e, const core::KernelSettings& k) {
  if (k.config_inet_diag_destroy && !*k.config_inet_diag_destroy) {
    e.result = "not supported (EOPNOTSUPP): this kernel was built without "
               "CONFIG_INET_DIAG_DESTROY";
    e.rst.reset();
    e.owner_sees = e.owner_sees.empty() ? "" : "nothing changes";
    e.peer_sees = "nothing changes";
    return;
  }
  const bool tw_entry =
      e.state == TcpState::TimeWait || (e.state == TcpState::FinWait2 && e.orphan);
  if (tw_entry && kernel_before(k, 6, 0)) {
    e.result = "not supported (EOPNOTSUPP) before Linux 6.0";
    e.rst.reset();
    e.peer_sees = "nothing changes";
  } else if (e.orphan && !tw_entry && kernel_before(k, 6, 11)) {
    e.result = "reports success but does nothing before Linux 6.11, unless this kernel carries "
               "the backport of bac76cf89816 (6.10.y; 5.15.y and other LTS branches in 2025)";
    e.rst.reset();
    e.peer_sees = "nothing changes if the fix is absent";
  } else if (k.kernel_major <= 0 && (tw_entry || e.orphan)) {
    e.result += tw_entry ? " (Linux 6.0 and later)" : " (Linux 6.11 and later)";
  }
}

} // namespace

std::vector<DestroyEffect> destroy_effects(const core::KernelSettings& k) {
  std::vector<DestroyEffect> out = {
      effect(TcpState::Established, false, "ESTABLISHED", true, kOwnerAbort, kPeerReset, kAbort),
      effect(TcpState::CloseWait, false, "CLOSE_WAIT", true, kOwnerAfterFin, kPeerReset, kAbort),
      effect(TcpState::FinWait1, false, "FIN_WAIT1 held", true, kOwnerAbort, kPeerReset, kAbort),
      effect(TcpState::FinWait1, true, "FIN_WAIT1 orphaned", true, "", kPeerReset, kAbortOrphan),
      effect(TcpState::FinWait2, false, "FIN_WAIT2 held", true, kOwnerAbort, kPeerReset, kAbort),
      effect(TcpState::FinWait2, true, "FIN_WAIT2 orphaned (timewait entry)", false, "",
             "is sent nothing; a peer in CLOSE_WAIT stays there (its FIN was all this entry "
             "waited for)",
             kAbortTw),
      effect(TcpState::LastAck, false, "LAST_ACK held", false, kOwnerAfterFin, kPeerNoRstFin,
             kAbort),
      effect(TcpState::LastAck, true, "LAST_ACK orphaned", false, "", kPeerNoRstFin, kAbortOrphan),
      effect(TcpState::Closing, false, "CLOSING held", false, kOwnerAfterFin, kPeerNoRstFin,
             kAbort),
      effect(TcpState::Closing, true, "CLOSING orphaned", false, "", kPeerNoRstFin, kAbortOrphan),
      effect(TcpState::TimeWait, true, "TIME_WAIT", false, "",
             "is sent nothing; the 4-tuple can be used again at once, which is what TIME_WAIT "
             "normally withholds for 60 s",
             kAbortTw),
      effect(TcpState::SynRecv, true, "SYN_RECV (request)", false, "",
             "is sent nothing: the client believes it is connected (ESTABLISHED) and gets a RST "
             "for its first data",
             std::string(kAbortReq) + "; " + std::string(kNoSocket)),
      effect(TcpState::SynSent, false, "SYN_SENT", false,
             "the pending connect() fails: SO_ERROR is ECONNABORTED, poll() reports ERR|HUP" +
                 kFdOpen,
             "is sent nothing", kAbort),
      effect(TcpState::Listen, false, "LISTEN", false,
             "accept() fails with EINVAL and nothing listens on the port any more" + kFdOpen,
             "new clients get a RST (no listener)",
             std::string(kAbort) + "; " + std::string(kNoSocket)),
  };
  for (auto& e : out)
    apply_version(e, k);
  return out;
}

const DestroyEffect*
effect_for(const std::vector<DestroyEffect>& effects, core::TcpState state, bool orphan) {
  const DestroyEffect* any = nullptr;
  for (const auto& e : effects) {
    if (e.state != state) continue;
    if (e.orphan == orphan) return &e;
    any = &e;
  }
  return any; // TIME_WAIT, SYN_RECV: one entry whatever the inode says
}

namespace parts {

Topic kill_topic(const core::KernelSettings& k) {
  Topic t;
  t.id = "kill";
  t.title = "Destroying sockets (sockdoctor kill, ss -K)";
  t.summary = "SOCK_DESTROY aborts one socket from outside its process: what it does depends on "
              "the TCP state, and it never closes the application's file descriptor.";
  t.settings = {fin_timeout(k), tw_reuse(k)};
  const auto effects = destroy_effects(k);
  double destroyable = 0;
  for (const auto& e : effects)
    destroyable += e.result.rfind("destroyed", 0) == 0 ? 1 : 0;
  t.figures = {
      count_figure("destroyable_cases", "States (held or orphaned) destroyable here", destroyable,
                   "cases",
                   fmt::format("of {} cases, from this kernel's version ({}) and "
                               "CONFIG_INET_DIAG_DESTROY ({})",
                               effects.size(), kernel_label(k),
                               !k.config_inet_diag_destroy   ? "unknown: no /proc/config.gz"
                               : *k.config_inet_diag_destroy ? "y"
                                                             : "not set")),
  };
  t.facts.push_back({sock_destroy_sentence(k) +
                         " The capability is checked in the user namespace that owns the "
                         "socket's network namespace; without it the answer is EPERM.",
                     "net/core/sock_diag.c: sock_diag_destroy() (v6.18)"});
  t.facts.push_back(
      {"The request names the socket by its 4-tuple and its cookie; a different socket that now "
       "holds the same 4-tuple (a reused port) has another cookie and is not touched. The "
       "kernel answers ENOENT both when nothing holds the 4-tuple and when the cookie differs, "
       "so sockdoctor looks the 4-tuple up again to tell \"already gone\" from \"stale\".",
       "net/ipv4/tcp_diag.c: tcp_diag_find_one_icsk(); net/core/sock_diag.c: "
       "sock_diag_check_cookie() (v6.18)"});
  for (const auto& e : effects) {
    std::string text = e.label + ": " + e.result;
    if (e.rst) text += *e.rst ? ", a RST is sent to the peer" : ", no RST is sent";
    if (!e.owner_sees.empty()) text += ". Owner: " + e.owner_sees;
    text += ". Peer: " + e.peer_sees + ".";
    t.facts.push_back({text, e.source});
  }
  t.myths = {
      {"ss -K closes the leaking application's socket, so it fixes a CLOSE_WAIT leak.",
       "It aborts the connection (CLOSE, port and memory freed, a RST to the peer), but the "
       "application's file descriptor stays open until the application calls close(): a leak "
       "of descriptors continues, and the application sees ECONNABORTED or EPIPE on its next "
       "write.",
       std::string(kAbort)},
      {"ss -K always sends a RST, so the peer learns the connection is gone.",
       "Only ESTABLISHED, CLOSE_WAIT, FIN_WAIT1, FIN_WAIT2 and full SYN_RECV sockets send one; "
       "LAST_ACK, CLOSING, TIME_WAIT, SYN_SENT, request sockets and listeners disappear "
       "silently.",
       std::string(kAbort)},
      {"ss -K reports the sockets it could not destroy.",
       "ss -K skips a socket whose SOCK_DESTROY answers ENOENT or EOPNOTSUPP without a word (it "
       "is just not printed), and stops at the first other error (EPERM) with one perror line; "
       "sockdoctor kill reports a result for every socket.",
       "iproute2 misc/ss.c: show_one_inet_sock(), kill_inet_sock()"},
  };
  return t;
}

} // namespace parts
} // namespace sockdoctor::analyze
