// The explain knowledge base: what each setting really does here, derived figures, cited facts,
// and the myths they correct (research/kernel-facts.md is the ground truth for every sentence).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.hpp"
#include "core/kernel_settings.hpp"

namespace sockdoctor::analyze {

// One sysctl as read in this network namespace, with what it does on this kernel version.
struct SettingInfo {
  std::string name;           // "net.ipv4.tcp_tw_reuse"
  bool present = false;       // false: file absent or unreadable (value is JSON null)
  std::optional<long> number; // set when the value is a single integer
  std::string value_text;     // "2", "32768 60999", "absent", "(none)"
  std::string meaning;        // version-aware, one or two sentences
};

// A number derived from the settings. value nullopt = no bound ("unbounded") or unknown.
struct Figure {
  std::string id;   // stable snake_case key, e.g. "usable_ephemeral_ports"
  std::string name; // human label
  std::optional<double> value;
  std::string unit;    // "s", "ports", "connections/s", "sockets", "events"
  std::string basis;   // how it was derived, and what it assumes
  std::string display; // "60 s", "unbounded", "~470/s"
};

struct Fact {
  std::string text;
  std::string source; // kernel file: function (version), commit, or documentation
};

struct Myth {
  std::string myth;  // the claim as commonly written (shown only labelled as a myth)
  std::string truth; // what the kernel actually does
  std::string source;
  bool seed = false;      // made by one of the two articles sockdoctor started from (seeds/)
  std::string correction; // seed myths: the truth in one line, for the `explain` overview
};

struct Topic {
  std::string id;      // "time-wait"
  std::string title;   // "TIME_WAIT"
  std::string summary; // one sentence: what this state / subject is
  std::vector<SettingInfo> settings;
  std::vector<Figure> figures;
  std::vector<Fact> facts;
  std::vector<Myth> myths;
};

// Topic ids in display order (without "all").
const std::vector<std::string_view>& topic_ids();
// Accepts "time-wait", "TIME_WAIT", "time_wait", "timewait", "all"; nullopt when unknown.
std::optional<std::string> normalize_topic(std::string_view word);
// One topic (id from topic_ids()); nullopt for an unknown id.
std::optional<Topic> build_topic(std::string_view id, const core::KernelSettings& k);
// Every topic, in display order.
std::vector<Topic> build_all_topics(const core::KernelSettings& k);

// ---- Reusable sentences (also cited by `check` findings). Each is one or two sentences that
// ---- state only what kernel-facts.md supports, with the values of this namespace filled in.

// How long this CLOSE_WAIT can live. keepalive_timer_armed: the socket shows timer 2
// (keepalive) in sock_diag, i.e. the application set SO_KEEPALIVE. Without it: no bound.
std::string close_wait_lifetime_sentence(const core::KernelSettings& k, bool keepalive_timer_armed);
// What Recv-Q on a CLOSE_WAIT socket says about the application (the FIN counts 1).
std::string close_wait_recv_q_sentence(std::uint64_t recv_q);
// A CLOSE_WAIT socket with no owner (inode 0): an unaccepted child in a listener's queue.
std::string close_wait_unowned_sentence();
// The fix for CLOSE_WAIT leaks, which is in the application, not in sysctls.
std::string close_wait_fix_sentence();
// TIME_WAIT length and cost on this kernel (60 s fixed, or Alibaba's tcp_tw_timeout).
std::string time_wait_lifetime_sentence(const core::KernelSettings& k);
// FIN_WAIT2 lifetime: orphaned (after close()) uses tcp_fin_timeout; otherwise unbounded.
std::string fin_wait2_lifetime_sentence(const core::KernelSettings& k, bool orphaned);
// Whether connect() may reuse TIME_WAIT 4-tuples toward `peer`, and after what delay.
std::string tw_reuse_sentence(const core::KernelSettings& k,
                              const core::IpAddress& peer,
                              bool timestamps_negotiated);
// Port budget per destination with and without TIME_WAIT reuse ("28232 usable ports: ...").
std::string port_budget_sentence(const core::KernelSettings& k);
// TcpExtTCPTimeWaitOverflow: what a non-zero count means (silent skip, no log line).
std::string tw_overflow_sentence(const core::KernelSettings& k);
// tcp_tw_recycle on this kernel: "absent, as expected since 4.12", or a warning if present.
std::string tw_recycle_sentence(const core::KernelSettings& k);
// Keepalive timing on this namespace, stating that it needs SO_KEEPALIVE.
std::string keepalive_sentence(const core::KernelSettings& k);
// TcpExtListenOverflows / ListenDrops: accept queue full, somaxconn cap.
std::string listen_overflow_sentence(const core::KernelSettings& k);
// What a client sees while a listener's accept queue is full (tcp_abort_on_overflow).
std::string listen_overflow_client_sentence(const core::KernelSettings& k);
// Whether ss -K (SOCK_DESTROY) can work on this kernel: CONFIG_INET_DIAG_DESTROY from
// /proc/config.gz, or "unknown", plus the CAP_NET_ADMIN requirement.
std::string sock_destroy_sentence(const core::KernelSettings& k);
// How an orphan's retransmissions end (tcp_orphan_retries as a time budget, tcp_rto_max).
std::string orphan_retries_sentence(const core::KernelSettings& k);
// What tcp_max_orphans and tcp_mem do to orphans (tcp_check_oom()).
std::string orphan_limit_sentence(const core::KernelSettings& k);

// How late a timer of this length fires at most on this kernel, as a clause: "up to 2 s at
// HZ=250 (this kernel's CONFIG_HZ)"; HZ unknown: "up to 2 s at HZ=250 or 4.1 s at HZ=1000 (this
// kernel's HZ is unknown: ...)". Never a silent HZ=1000.
std::string timer_slack_clause(const core::KernelSettings& k, double timeout_seconds);

// Where the ages of findings come from and how far to trust them, for this kernel: TIME_WAIT
// from its timer (a lower bound), orphaned FIN_WAIT2 an estimate, CLOSE_WAIT from the last ACK.
std::string age_basis_note(const core::KernelSettings& k);

// ---- Formatting helpers shared by the sentences and the renderers.
// "60 s", "7200 s (2 h)", "7875 s (2 h 11 min)", "924.6 s (15 min)".
std::string format_seconds(double seconds);
// Connections per second: one decimal below 100, else whole numbers rounded down ("470").
std::string format_rate(double per_second);
// The kernel line: "6.18.44-fc-v595", "'xyz' (version not recognised)" or "version unknown".
std::string kernel_label(const core::KernelSettings& k);

// Kernel source citations used by the facts (kernel-facts.md; v6.19 unless stated).
namespace cite {
inline constexpr std::string_view kTimeWaitLen =
    "include/net/tcp.h: TCP_TIMEWAIT_LEN; net/ipv4/tcp_minisocks.c: tcp_time_wait() (v6.19)";
inline constexpr std::string_view kTimeWaitProcess =
    "net/ipv4/tcp_minisocks.c: tcp_timewait_state_process() (v6.19)";
inline constexpr std::string_view kTwReuse = "net/ipv4/tcp_ipv4.c: tcp_twsk_unique() (v6.19)";
inline constexpr std::string_view kTwReuseDelay =
    "net/ipv4/sysctl_net_ipv4.c: tcp_tw_reuse_delay; tcp_twsk_unique() (v6.14, absent in v6.13.7)";
inline constexpr std::string_view kTwRecycleRemoved =
    "commit 4396e46187ca \"tcp: remove tcp_tw_recycle\" (Linux 4.12)";
inline constexpr std::string_view kTwOverflow =
    "net/ipv4/inet_timewait_sock.c: inet_twsk_alloc(); net/ipv4/tcp_minisocks.c: "
    "tcp_time_wait() (v3.1 .. v6.19)";
inline constexpr std::string_view kKeepaliveTimer =
    "net/ipv4/tcp_timer.c: tcp_keepalive_timer() (v6.19)";
inline constexpr std::string_view kTcpFin = "net/ipv4/tcp_input.c: tcp_fin() (v6.19)";
inline constexpr std::string_view kTcpReset = "net/ipv4/tcp_input.c: tcp_reset() (v6.19)";
inline constexpr std::string_view kShutdown = "net/ipv4/tcp.c: tcp_shutdown() (v6.19)";
inline constexpr std::string_view kTcpClose = "net/ipv4/tcp.c: __tcp_close() (v6.19)";
inline constexpr std::string_view kTcpDone =
    "net/ipv4/tcp.c: tcp_done(), tcp_set_state(); tcp_recvmsg_locked() (v6.19)";
inline constexpr std::string_view kDiagQueues = "net/ipv4/tcp_diag.c: tcp_diag_get_info() (v6.19)";
inline constexpr std::string_view kCloneLock = "net/core/sock.c: sk_clone_lock() (v6.19)";
inline constexpr std::string_view kFinTime =
    "include/net/tcp.h: tcp_fin_time(); net/ipv4/tcp.c: __tcp_close() (v6.19)";
inline constexpr std::string_view kHashConnect =
    "net/ipv4/inet_hashtables.c: __inet_hash_connect(), __inet_check_established() (v6.19)";
inline constexpr std::string_view kSockDestroy =
    "net/ipv4/tcp_diag.c: tcp_diag_destroy(); net/ipv4/tcp.c: tcp_abort(), tcp_need_reset() "
    "(v6.18)";
// Read in the v6.18 source for the 2026-12-02 audit (research/kernel-facts.md, last section).
inline constexpr std::string_view kRecvmsg =
    "net/ipv4/tcp.c: tcp_recvmsg_locked() found_fin_ok; net/ipv4/tcp_diag.c: "
    "tcp_diag_get_info() (v6.18)";
inline constexpr std::string_view kTimeWaitRestart =
    "net/ipv4/tcp_minisocks.c: tcp_timewait_state_process(), inet_twsk_reschedule() (v6.18)";
inline constexpr std::string_view kTimerWheel =
    "kernel/time/timer.c: calc_index(), LVL_START/LVL_GRAN; include/net/tcp.h: "
    "TCP_TIMEWAIT_LEN (60*HZ)";
inline constexpr std::string_view kWriteTimeout =
    "net/ipv4/tcp_timer.c: tcp_write_timeout(), tcp_orphan_retries(), tcp_model_timeout(), "
    "retransmits_timed_out() (v6.18)";
inline constexpr std::string_view kProbeTimer =
    "net/ipv4/tcp_timer.c: tcp_probe_timer(), tcp_retransmit_timer() zero-window branch (v6.18)";
inline constexpr std::string_view kOrphanLimit =
    "net/ipv4/tcp.c: tcp_check_oom(), tcp_too_many_orphans(), __tcp_close(); "
    "net/ipv4/tcp_timer.c: tcp_out_of_resources() (v6.18)";
inline constexpr std::string_view kSynQueue =
    "include/net/inet_connection_sock.h: inet_csk_reqsk_queue_is_full(); net/ipv4/tcp_input.c: "
    "tcp_conn_request() (v6.18)";
inline constexpr std::string_view kAcceptQueue =
    "include/net/sock.h: sk_acceptq_is_full(); net/ipv4/tcp_input.c: tcp_conn_request(); "
    "net/ipv4/tcp_ipv4.c: tcp_v4_syn_recv_sock() (v6.18)";
inline constexpr std::string_view kAbortOnOverflow =
    "net/ipv4/tcp_minisocks.c: tcp_check_req() listen_overflow (v6.18)";
inline constexpr std::string_view kLinger =
    "net/ipv4/tcp.c: __tcp_close() SOCK_LINGER branch, tcp_disconnect() (v6.18)";
inline constexpr std::string_view kBindPort =
    "net/ipv4/inet_connection_sock.c: inet_csk_get_port(), inet_csk_find_open_port() (v6.18)";
inline constexpr std::string_view kTwReuseLoopback =
    "net/ipv4/tcp_ipv4.c: tcp_twsk_unique() tw_bound_dev_if, tw_rcv_saddr (v6.18)";
inline constexpr std::string_view kTsOffsets =
    "net/core/secure_seq.c: secure_tcp_seq_and_ts_off() (6.18.17+, commit 165573e41f2f), "
    "secure_tcp_ts_off() (4.12 .. 6.19, commit 28ee1b746f49)";
inline constexpr std::string_view kRtoMax =
    "net/ipv4/sysctl_net_ipv4.c: tcp_rto_max_ms; net/ipv4/tcp.c: tcp_init_sock() (v6.18)";
inline constexpr std::string_view kFinWait2Timer =
    "include/net/tcp.h: tcp_fin_time(); net/ipv4/tcp_minisocks.c: tcp_time_wait() "
    "(timeo >= 3.5 x RTO) (v6.18)";
} // namespace cite

} // namespace sockdoctor::analyze
