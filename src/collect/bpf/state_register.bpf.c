// SPDX-License-Identifier: GPL-2.0
/* The state register: every TCP socket's state, since when, and the process that opened or
 * closed it, keyed by socket cookie; optionally a ring of transitions (see state_register.h).
 *
 * Hooks (research/ebpf-findings.md: on the target kernel only tracepoints and iterators work):
 *  - tp_btf/inet_sock_set_state: every transition of a full socket;
 *  - tp_btf/tcp_destroy_sock: the end of a full socket that skipped CLOSE bookkeeping;
 *  - tp_btf/timer_{start,cancel,expire_entry} filtered on tw_timer_handler: TIME_WAIT (and
 *    FIN_WAIT2 mini-socket) birth, re-arm and death, which inet_sock_set_state never reports.
 * A mini-socket keeps the cookie of its full socket (inet_twsk_alloc copies sk_cookie), so an
 * entry and its owner live on from ESTABLISHED to the end of TIME_WAIT. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "state_register.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define NSEC_PER_SEC 1000000000ULL
#define EEXIST 17
#define ENOENT 2
#define EBUSY 16

/* TCP_ESTABLISHED ... TCP_CLOSING come from vmlinux.h (enum in include/net/tcp_states.h). */

/* &tw_timer_handler, set by find_tw_timer() (or by user space from /proc/kallsyms where that
 * program cannot load) before the timer programs are attached. */
volatile __u64 tw_timer_fn;

/* CLOCK_BOOTTIME of jiffy 0 for the tick clock below, from calibrate(): the smallest
 * boot - jiffies * TICK seen, which is the moment a jiffy begins. Valid until a suspend. */
#define JIFFY_ZERO_UNKNOWN 0x7fffffffffffffffLL
volatile __s64 jiffy_zero_ns = JIFFY_ZERO_UNKNOWN;

/* Set by user space before load. */
const volatile __u32 stream_events = 0; /* 1: write transitions to `events` */
/* 1: entry times from jiffies (the start of the current tick: at most one jiffy early, 4 ms at
 * HZ=250) instead of a clock source read (53 ns on the target VM, one per transition and a
 * sixth of the register's cost; bpf_ktime_get_coarse_ns is refused to tracing programs). For
 * the register alone, whose ages are shown to the second; the stream's durations need the
 * exact clock. The exact clock is read until calibrate() has run. */
const volatile __u32 tick_clock = 0;
/* 1: no entry before a socket's first closing state (see opening_state()). For the register
 * alone: its readers (ls, check, top, serve) use ages and closers of closing states only. */
const volatile __u32 lazy_entries = 0;
/* 1: a full socket's ->CLOSE into a mini-socket (tcp_time_wait) is taken as its TIME_WAIT or
 * FIN_WAIT2 birth, and nothing ends a mini-socket's entry (the table replaces it once its
 * TIME_WAIT is over): the timer programs and tcp_destroy_sock are not attached. For the register
 * alone: those hooks ran ~16 times per connection (every timer of the host) and cost churn about
 * 5 % of its rate (docs/performance.md). */
const volatile __u32 tw_from_close = 0;
const volatile __u32 filter_netns = 0;  /* stream only this netns inode (0 = all) */
const volatile __u16 filter_port = 0;   /* stream only this local or remote port (0 = all) */
/* Wake the reader only once this much is queued: a wakeup per record costs the traced
 * connections an irq_work each and the reader a context switch; it polls every 100 ms anyway. */
const volatile __u64 wakeup_bytes = 0;

extern int CONFIG_HZ __kconfig __weak;

/* The socket table (state_register.h): sets of SR_WAYS entries keyed by socket cookie. An LRU
 * hash cost two thirds of the register's CPU in connection churn (its list locks and the misses
 * of a 15 MiB map, docs/performance.md); a way costs a compare-and-swap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_DEFAULT_ENTRIES / SR_WAYS); /* sets; user space sizes it */
	__type(key, __u32);
	__type(value, struct sr_set);
} sockets SEC(".maps");

const volatile __u32 set_bits = 15; /* log2 of the number of sets, set by user space */

struct listener_key {
	__u32 netns;
	__u32 port;
};

/* Owner of each listening port, inherited by its children (accept() has no tracepoint). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SR_LISTENER_ENTRIES);
	__type(key, struct listener_key);
	__type(value, struct sr_owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* user space sets the size before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_counters);
} counters SEC(".maps");

/* Written by user space only; pinned with `sockets` so readers know the host and its start. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_info);
} info SEC(".maps");

/* FIN_WAIT2 mini-sockets, swept every SWEEP_NS for the FIN that makes them TIME_WAIT: that
 * re-arm is invisible to the timer tracepoints when mod_timer_pending() keeps the timer in its
 * wheel bucket (a peer closing within ~2 s), and no other tracepoint sees a mini-socket. */
#define SWEEP_NS (50 * 1000 * 1000ULL)
#define CLOCK_MONOTONIC 1

struct fw2_value {
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SR_FW2_ENTRIES);
	__type(key, __u64); /* struct inet_timewait_sock * */
	__type(value, struct fw2_value);
} fw2_minisocks SEC(".maps");

struct sweeper {
	struct bpf_timer timer;
	__u32 armed;
	__u32 initialised;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sweeper);
} sweepers SEC(".maps");

/* A tw timer cancel waits here until the same CPU shows what it was: timer_start right after
 * (re-arm, mod_timer holds the base lock in between), timer_expire_entry (expiry), or any
 * other socket event (an early kill: inet_twsk_deschedule_put). */
struct sr_cpu_slot pending[SR_MAX_CPUS] __attribute__((aligned(64)));

/* jiffies advance every TICK_NSEC of CLOCK_MONOTONIC (tick_do_update_jiffies64), so
 * jiffies * TICK_NSEC + a constant is CLOCK_BOOTTIME at the start of the current tick. */
static __always_inline __u64 tick_nsec(void)
{
	__u64 hz = CONFIG_HZ;

	return hz ? (NSEC_PER_SEC + hz / 2) / hz : 0;
}

/* The register's clock: CLOCK_BOOTTIME nanoseconds, exact or (tick_clock) up to one jiffy
 * early; the verifier inlines bpf_jiffies64() into a load. Exact while not calibrated. */
static __always_inline __u64 now_ns(void)
{
	if (tick_clock && jiffy_zero_ns != JIFFY_ZERO_UNKNOWN)
		return bpf_jiffies64() * tick_nsec() + jiffy_zero_ns;
	return bpf_ktime_get_boot_ns();
}

static __always_inline struct sr_cpu_slot *cpu_slot(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return cpu < SR_MAX_CPUS ? &pending[cpu] : 0;
}

#define COUNT(field)                                                      \
	do {                                                              \
		__u32 zero = 0;                                           \
		struct sr_counters *c = bpf_map_lookup_elem(&counters, &zero); \
		if (c)                                                    \
			__sync_fetch_and_add(&c->field, 1);               \
	} while (0)

#include "state_register_table.bpf.h"

/* Plain loads from the current task (a trusted BTF pointer): about a quarter of the cost of
 * the four helpers (pid_tgid, uid_gid, cgroup_id, comm) measured here. cgroup_id() of the
 * default hierarchy is its kernfs node id, as bpf_get_current_cgroup_id() returns. */
static __always_inline void fill_owner(struct sr_owner *o)
{
	struct task_struct *t = bpf_get_current_task_btf();

	o->pid = t->tgid;
	o->uid = t->cred->uid.val;
	o->cgroup_id = t->cgroups->dfl_cgrp->kn->id;
	__builtin_memcpy(o->comm, t->comm, sizeof(o->comm));
}

#include "state_register_emit.bpf.h"
#include "state_register_tw.bpf.h"

static __always_inline bool learns_owner(int old, int new)
{
	return (old == TCP_CLOSE && (new == TCP_SYN_SENT || new == TCP_LISTEN)) ||
	       new == TCP_FIN_WAIT1 || new == TCP_LAST_ACK;
}

static __always_inline __u8 role_of(int old, int new)
{
	if (new == TCP_SYN_SENT)
		return SR_ROLE_CONNECT;
	if (new == TCP_LISTEN)
		return SR_ROLE_LISTEN;
	return SR_ROLE_CLOSE;
}

/* Only a socket in these states can have been handed to a mini-socket by tcp_time_wait()
 * just before its ->CLOSE; for the others the entry is deleted without being read first. */
static __always_inline bool may_be_superseded(int old)
{
	return old == TCP_FIN_WAIT1 || old == TCP_FIN_WAIT2 || old == TCP_CLOSING;
}

/* tw_from_close: is this ->CLOSE tcp_time_wait() handing the socket to a mini-socket? It is
 * unless the close is an abort, which sets sk_err (tcp_reset(), timeouts); the rare misreadings
 * (TCP_LINGER2 < 0, a full tw table: docs/tracing.md) leave an entry no socket has. The entry
 * becomes the mini-socket's, in TIME_WAIT if the peer's FIN came (CLOSING, or FIN_WAIT2 with
 * SOCK_DONE, which tcp_fin() sets before tcp_time_wait()) or else in FIN_WAIT2. */
static __always_inline bool close_into_minisock(const struct sock *sk, __u64 cookie, int old)
{
	struct sr_way *w;
	struct sr_entry *e;
	__u8 sub;

	if ((old != TCP_FIN_WAIT2 && old != TCP_CLOSING) || sk->sk_err)
		return false;
	w = find_way(cookie);
	if (!w) /* an older socket: nothing to carry, nothing to delete */
		return true;
	if (!way_lock(w, cookie))
		return true;
	e = &w->entry;
	sub = old == TCP_CLOSING || (sk->__sk_common.skc_flags & (1UL << SOCK_DONE))
		      ? TCP_TIME_WAIT
		      : TCP_FIN_WAIT2;
	if (sub != e->state) {
		e->state = sub;
		e->entered_ns = now_ns();
		e->flags = (e->flags & ~SR_F_FROM_TIMER) | SR_F_ENTRY_SEEN;
	}
	e->flags |= SR_F_MINISOCK;
	way_unlock(w);
	COUNT(tw_starts);
	return true;
}

static __always_inline void on_close(const struct sock *sk, __u64 cookie, int old)
{
	struct sr_cpu_slot *slot = cpu_slot();
	struct sr_entry *e = 0;
	struct sr_way *w = 0;
	__u32 netns = sk_netns(sk);
	__u16 sport = 0;

	if (tw_from_close) {
		if (!close_into_minisock(sk, cookie, old) && delete_entry(cookie) == 0)
			COUNT(deletes);
		return;
	}
	if (slot)
		slot->closed = cookie; /* tcp_destroy_sock comes next, on this CPU */
	if (slot && slot->superseded == cookie) {
		/* tcp_time_wait() handed the connection to a mini-socket before tcp_done(), just
		 * now on this CPU (on_timer_start said so): no need to look. */
		slot->superseded = 0;
		COUNT(superseded);
		return;
	}
	if (stream_events || may_be_superseded(old))
		w = find_way(cookie);
	if (w)
		e = &w->entry;
	if (e && (e->flags & SR_F_MINISOCK)) {
		COUNT(superseded);
		return;
	}
	/* inet_put_port() zeroed skc_num before this tracepoint; inet_sport still has it. */
	if (stream_events || old == TCP_LISTEN)
		sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	if (old == TCP_LISTEN) {
		struct listener_key lk = { .netns = netns, .port = sport };

		bpf_map_delete_elem(&listeners, &lk);
	}
	if (stream_events) /* the only use of the time: the entry goes */
		emit(&sk->__sk_common, netns, sport, now_ns(), cookie, e, old, TCP_CLOSE,
		     SR_EV_STATE, e ? e->entered_ns : 0, old_flags(e));
	if (delete_entry(cookie) == 0)
		COUNT(deletes);
}

/* Returns -EEXIST if the socket has an entry already (nothing done), otherwise 0. */
static __always_inline long new_entry(const struct sock *sk, __u32 netns, __u16 sport,
				      __u64 cookie, __u64 now, int old, int new)
{
	struct sr_entry n = { .entered_ns = now, .state = new, .flags = SR_F_ENTRY_SEEN };
	long rc;

	if (learns_owner(old, new)) {
		fill_owner(&n.owner);
		n.role = role_of(old, new);
	}
	if (old == TCP_CLOSE && (new == TCP_SYN_SENT || new == TCP_LISTEN))
		n.flags |= SR_F_BORN_TRACED;
	if (old == TCP_LISTEN && new == TCP_SYN_RECV) {
		struct listener_key lk = { .netns = netns, .port = sport };
		struct sr_owner *lo = bpf_map_lookup_elem(&listeners, &lk);

		n.flags |= SR_F_BORN_TRACED;
		if (lo) {
			n.owner = *lo;
			n.role = SR_ROLE_ACCEPT;
		} else {
			COUNT(listener_misses);
		}
	}
	rc = insert_entry(cookie, &n, now);
	if (rc == -EEXIST)
		return rc;
	if (rc == 0) {
		COUNT(inserts);
		if (learns_owner(old, new))
			COUNT(owners_learned);
	} else {
		COUNT(insert_failures);
	}
	emit(&sk->__sk_common, netns, sport, now, cookie, &n, old, new, SR_EV_STATE, 0, 0);
	return 0;
}

/* States before the closing ones: with lazy_entries a socket in them has no entry (entries
 * are made at the first closing transition and deleted at ->CLOSE). */
static __always_inline bool opening_state(int state)
{
	return state == TCP_CLOSE || state == TCP_LISTEN || state == TCP_SYN_SENT ||
	       state == TCP_SYN_RECV || state == TCP_ESTABLISHED;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct sr_entry *e;
	struct sr_way *w;
	__u64 now, cookie, old_entered;
	__u32 netns;
	__u16 sport;
	__u8 oflags;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (!tw_from_close) /* else no timer program leaves a cancel pending */
		settle_pending(0);
	COUNT(transitions);
	if (lazy_entries && opening_state(oldstate) &&
	    (opening_state(newstate) || newstate == TCP_CLOSE)) {
		/* Nothing to record or delete; read, not made: a cookie for every socket costs. */
		struct sr_cpu_slot *slot = cpu_slot();

		/* tcp_destroy_sock comes next (when attached): no lookup there */
		if (newstate == TCP_CLOSE && slot && !tw_from_close)
			slot->closed = sk->__sk_common.skc_cookie.counter;
		return 0;
	}
	cookie = bpf_get_socket_cookie((void *)sk);
	if (newstate == TCP_CLOSE) {
		on_close(sk, cookie, oldstate);
		return 0;
	}
	now = now_ns();
	netns = sk_netns(sk);
	sport = sk->__sk_common.skc_num;
	if (oldstate == TCP_CLOSE || oldstate == TCP_LISTEN ||
	    (lazy_entries && opening_state(oldstate))) {
		/* A birth (lazy: the first closing state): inserted without a lookup first (the
		 * update walks the bucket anyway); only a socket connected again after a
		 * disconnect still has its entry. */
		if (new_entry(sk, netns, sport, cookie, now, oldstate, newstate) != -EEXIST)
			goto listener;
		w = find_way(cookie);
	} else {
		w = find_way(cookie);
		if (!w) { /* older than the register, or evicted: the new state's start is exact */
			new_entry(sk, netns, sport, cookie, now, oldstate, newstate);
			return 0;
		}
	}
	if (!w || !way_lock(w, cookie)) /* replaced meanwhile by another socket's insert */
		goto listener;
	e = &w->entry;
	old_entered = e->entered_ns;
	oflags = old_flags(e);
	e->state = newstate;
	e->entered_ns = now;
	e->flags = (e->flags & ~SR_F_FROM_TIMER) | SR_F_ENTRY_SEEN;
	if (learns_owner(oldstate, newstate)) {
		fill_owner(&e->owner);
		e->role = role_of(oldstate, newstate);
		COUNT(owners_learned);
	}
	emit(&sk->__sk_common, netns, sport, now, cookie, e, oldstate, newstate, SR_EV_STATE,
	     old_entered, oflags);
	way_unlock(w);
listener:
	if (newstate == TCP_LISTEN && !lazy_entries) {
		struct listener_key lk = { .netns = netns, .port = sport };
		struct sr_owner o = {};

		fill_owner(&o);
		bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY);
	}
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, struct sock *sk)
{
	struct sr_cpu_slot *slot;
	struct sr_way *w;
	__u64 cookie;

	settle_pending(0);
	/* Read, not bpf_get_socket_cookie(): that would make a cookie for every socket freed. */
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie)
		return 0;
	slot = cpu_slot();
	if (slot && slot->closed == cookie) { /* its ->CLOSE was handled just before */
		slot->closed = 0;
		return 0;
	}
	w = find_way(cookie);
	if (w && !(w->entry.flags & SR_F_MINISOCK) && way_lock(w, cookie)) {
		w->cookie = 0;
		way_unlock(w);
		COUNT(deletes);
	}
	return 0;
}

/* Run by user space (BPF_PROG_RUN) for a few ticks before the programs are attached: one sample
 * of when the current jiffy began (jiffies read first: a tick in between only makes the sample
 * larger). Returns the low bits of jiffies, so user space sees the ticks go by. */
SEC("syscall")
int calibrate(void *ctx)
{
	__u64 tick = tick_nsec(), j = bpf_jiffies64();
	__s64 zero = (__s64)(bpf_ktime_get_boot_ns() - j * tick);

	if (tick && zero < jiffy_zero_ns)
		jiffy_zero_ns = zero;
	return (int)(j & 0x3fffffff);
}

/* Run once by user space before the timer programs are attached: the kernel's own symbol
 * lookup (Linux 5.16+) instead of /proc/kallsyms, which the kernel formats line by line for
 * 30-190 ms here. Same rule as /proc/kallsyms: -EPERM where addresses are hidden. */
SEC("syscall")
int find_tw_timer(void *ctx)
{
	static const char name[] = "tw_timer_handler";
	__u64 addr = 0;
	long rc = bpf_kallsyms_lookup_name(name, sizeof(name), 0, &addr);

	if (rc == 0)
		tw_timer_fn = addr;
	return rc;
}
