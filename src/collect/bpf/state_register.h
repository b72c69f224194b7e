/* ABI between state_register.bpf.c and collect/state_register*.cpp: map values, ring events. */
#ifndef SOCKDOCTOR_STATE_REGISTER_H
#define SOCKDOCTOR_STATE_REGISTER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bumped whenever a struct below changes: a reader refuses pins of another version. */
#define SR_ABI_VERSION 2

/* Default capacity of the socket table (entries, SR_WAYS per set). docs/tracing.md gives its
 * kernel memory. */
#define SR_DEFAULT_ENTRIES 131072
#define SR_WAYS 4
#define SR_LISTENER_ENTRIES 4096
#define SR_FW2_ENTRIES 16384 /* FIN_WAIT2 mini-sockets watched for their peer's FIN */
#define SR_MAX_CPUS 512 /* pending tw-timer cancels are kept per CPU in .bss */

/* How the owner of an entry was learned. Only transitions that run in the syscall of the
 * process concerned teach an owner; the pid seen in softirq (ESTABLISHED->CLOSE_WAIT, SYN_RECV)
 * is whoever was interrupted, never the owner (research/ebpf-findings.md, section 1). */
enum sr_owner_role {
	SR_ROLE_NONE = 0,
	SR_ROLE_CONNECT = 1, /* CLOSE->SYN_SENT in connect() */
	SR_ROLE_LISTEN = 2,  /* CLOSE->LISTEN in listen() */
	SR_ROLE_ACCEPT = 3,  /* a child: the process that called listen() on its listener */
	SR_ROLE_CLOSE = 4,   /* ->FIN_WAIT1 or ->LAST_ACK in close()/shutdown(): closed by it */
};

enum sr_entry_flags {
	SR_F_ENTRY_SEEN = 1,  /* entered_ns is the moment of entry into the state */
	SR_F_BORN_TRACED = 2, /* the socket was created while the register ran */
	SR_F_MINISOCK = 4,    /* now an inet_timewait_sock (TIME_WAIT or FIN_WAIT2 mini-socket) */
	SR_F_FROM_TIMER = 8,  /* entered_ns derived from the tw timer (a re-arm the timer wheel
			       * made invisible), exact to one jiffy */
};

struct sr_owner {
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u32 pid;       /* tgid in the initial pid namespace; 0 = unknown */
	__u32 uid;
	char comm[16];
};

/* Value of the `sockets` map, keyed by the socket cookie (__u64). */
struct sr_entry {
	__u64 entered_ns; /* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns) */
	struct sr_owner owner;
	__u8 state; /* TCP_* as in include/net/tcp_states.h; the tw substate for mini-sockets */
	__u8 flags; /* enum sr_entry_flags */
	__u8 role;  /* enum sr_owner_role */
	__u8 pad[5];
};

#define SR_ENTRY_SIZE 48

/* The `sockets` table is an array of sets of SR_WAYS ways.
 * A cookie lives in set sr_set_index(); a new one takes a free way of its set, or replaces the
 * entry a reader needs least (see replace_score() in the .bpf.c). No locks, no allocation: a
 * way's seq is odd while a program writes it (a seqcount readers retry on; also the writers'
 * try-lock). */
struct sr_way {
	__u64 seq;    /* 64 bits: the BPF atomics clang emits by default are 64-bit only */
	__u64 cookie; /* 0: free */
	struct sr_entry entry;
};

#define SR_WAY_SIZE 64

struct sr_set {
	struct sr_way way[SR_WAYS];
};

#define SR_SET_SIZE 256

/* Cookies are handed out in runs of consecutive numbers (sock_gen_cookie(), made when first
 * asked for: here at a socket's first closing state, or by a sock_diag dump), so the low bits
 * alone spread the sockets alive at one time evenly: any run as long as the table fills every
 * set exactly. Folding high bits in would break that at the run's window edges. A process
 * that could pick its sockets' cookies a table apart would need as many sockets as the
 * table holds, and could then fill it anyway. set_bits: log2 of the number of sets. */
static inline __u32 sr_set_index(__u64 cookie, __u32 set_bits)
{
	return (__u32)(cookie & ((1ULL << set_bits) - 1));
}

enum sr_event_kind {
	SR_EV_STATE = 1,      /* inet_sock_set_state */
	SR_EV_TW_START = 2,   /* the full socket was replaced by a timewait mini-socket */
	SR_EV_TW_RESTART = 3, /* the kernel restarted the tw timer (state unchanged) */
	SR_EV_TW_EXPIRE = 4,  /* the tw timer ran out: the mini-socket is gone */
	SR_EV_TW_KILL = 5,    /* the mini-socket was removed early (reuse, RST, netns exit) */
};

enum sr_event_flags {
	SR_EVF_OLD_SEEN = 1,   /* old_entered_ns is the moment of entry into old_state */
	SR_EVF_OLD_TIMER = 2,  /* ... derived from the tw timer */
	SR_EVF_NO_ENTRY = 4,   /* the register had no entry (older socket or evicted) */
	SR_EVF_BORN_TRACED = 8,
	SR_EVF_TIME_FROM_TIMER = 16, /* ts_ns derived from the tw timer; reported up to 50 ms late */
};

/* One ring-buffer record. */
struct sr_event {
	__u64 ts_ns;          /* CLOCK_BOOTTIME */
	__u64 cookie;
	__u64 old_entered_ns; /* when old_state began; 0 = unknown */
	struct sr_owner owner;
	__u32 netns;          /* network namespace inode */
	__u16 family;         /* AF_INET / AF_INET6 */
	__u16 sport;          /* host byte order */
	__u16 dport;          /* host byte order */
	__u8 old_state;
	__u8 new_state;
	__u8 kind;            /* enum sr_event_kind */
	__u8 flags;           /* enum sr_event_flags */
	__u8 role;            /* enum sr_owner_role of owner */
	__u8 pad[9];
	__u8 saddr[16];       /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
};

#define SR_EVENT_SIZE 112

/* Per-CPU counters (one PERCPU_ARRAY element); user space sums the CPUs. Never silent: every
 * record or entry that could not be kept is counted here. */
struct sr_counters {
	__u64 transitions;      /* inet_sock_set_state calls on TCP sockets */
	__u64 inserts;          /* entries created */
	__u64 deletes;          /* entries removed by us (CLOSE, destroy, tw death) */
	__u64 insert_failures;  /* map update failed: the socket is not tracked */
	__u64 ring_drops;       /* events lost: ring buffer full */
	__u64 tw_starts;        /* mini-sockets born */
	__u64 tw_restarts;
	__u64 tw_expires;
	__u64 tw_kills;
	__u64 tw_untracked;     /* mini-socket events without a cookie or entry */
	__u64 owners_learned;   /* syscall transitions that taught an owner */
	__u64 superseded;       /* full socket ->CLOSE after its mini-socket took over */
	__u64 listener_misses;  /* child sockets whose listener's owner was unknown */
	__u64 tw_swept;         /* FIN_WAIT2 -> TIME_WAIT changes found by the sweep */
	__u64 evictions;        /* entries replaced while their socket may still exist */
	__u64 reclaimed;        /* entries replaced whose TIME_WAIT must have ended (> 60 s) */
};

#define SR_COUNTERS_SIZE 128

/* The one element of the pinned `info` map: who hosts the register, since when. */
struct sr_info {
	__u32 abi_version;       /* SR_ABI_VERSION */
	__u32 host_pid;          /* the process that loaded it (initial pid namespace) */
	__u64 host_start_ticks;  /* field 22 of /proc/PID/stat: tells a reused pid from the host */
	__u64 started_boot_ns;   /* CLOCK_BOOTTIME when the programs were attached */
	__u64 started_real_ns;   /* CLOCK_REALTIME at the same moment */
	__u32 max_entries;
	__u32 features;          /* enum sr_features */
	__u64 reserved[4];
};

#define SR_INFO_SIZE 72

enum sr_features {
	SR_FEAT_TIME_WAIT = 1, /* the tw timer programs are attached (tw_timer_handler was found) */
};

/* .bss of the programs, one per CPU, a cache line each (the CPUs write them on every event). */
struct sr_cpu_slot {
	/* A tw timer cancel not yet explained (see the .bpf.c). */
	__u64 timer;
	__u64 cookie;
	__u64 ts_ns;
	/* Hints that spare a map lookup; a miss falls back to the lookup. */
	__u64 superseded; /* cookie whose entry a mini-socket just took over (timer_start) */
	__u64 closed;     /* cookie whose ->CLOSE was just handled */
	__u64 pad[3];
};

#endif /* SOCKDOCTOR_STATE_REGISTER_H */
