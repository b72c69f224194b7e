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

/* ---- the socket table ---- */

#define TIME_WAIT_NS (60 * NSEC_PER_SEC) /* TCP_TIMEWAIT_LEN */

static __always_inline struct sr_set *set_of(__u64 cookie)
{
	__u32 i = sr_set_index(cookie, set_bits);

	return bpf_map_lookup_elem(&sockets, &i);
}

/* The way holding `cookie`, or NULL. Every event of one socket runs under that socket's lock,
 * so its own entry changes under it only if another socket's insert replaces it. */
static __always_inline struct sr_way *find_way(__u64 cookie)
{
	struct sr_set *set = set_of(cookie);
	int i;

	if (!set)
		return 0;
#pragma unroll
	for (i = 0; i < SR_WAYS; i++)
		if (set->way[i].cookie == cookie)
			return &set->way[i];
	return 0;
}

/* Takes the way for writing if it still holds `cookie` (seq odd until way_unlock()). */
static __always_inline bool way_lock(struct sr_way *w, __u64 cookie)
{
	__u64 seq = w->seq;

	if ((seq & 1) || __sync_val_compare_and_swap(&w->seq, seq, seq + 1) != seq)
		return false;
	if (w->cookie == cookie)
		return true;
	__sync_fetch_and_add(&w->seq, 1);
	return false;
}

static __always_inline void way_unlock(struct sr_way *w)
{
	__sync_fetch_and_add(&w->seq, 1); /* a full barrier: the entry is written before */
}

/* Which way a new entry replaces, lowest first: a free one; a TIME_WAIT that must be over
 * (TIME_WAIT lasts TCP_TIMEWAIT_LEN unless a late FIN restarts it); another mini-socket, which
 * ends by itself; then the full socket whose state began longest ago. A stuck CLOSE_WAIT thus
 * goes last, as in an LRU. */
static __always_inline __u64 replace_score(const struct sr_way *w, __u64 now)
{
	const struct sr_entry *e = &w->entry;
	__u64 rank;

	if (!w->cookie)
		return 0;
	if (!(e->flags & SR_F_MINISOCK))
		rank = 3;
	else if (e->state == TCP_TIME_WAIT && e->entered_ns + TIME_WAIT_NS + NSEC_PER_SEC < now)
		rank = 1;
	else
		rank = 2;
	return (rank << 61) | ((e->entered_ns >> 3) & ((1ULL << 61) - 1));
}

/* Stores `n` for `cookie` unless the cookie has an entry: 0, -EEXIST, or -EBUSY when the way it
 * would take is being written by another CPU (counted as an insert failure by the caller). */
static __always_inline long insert_entry(__u64 cookie, const struct sr_entry *n, __u64 now)
{
	struct sr_set *set = set_of(cookie);
	struct sr_way *victim = 0;
	__u64 best = ~0ULL, old;
	int i;

	if (!set)
		return -EBUSY;
#pragma unroll
	for (i = 0; i < SR_WAYS; i++) {
		struct sr_way *w = &set->way[i];
		__u64 score;

		if (w->cookie == cookie)
			return -EEXIST;
		score = replace_score(w, now);
		if (score < best) {
			best = score;
			victim = w;
		}
	}
	if (!victim)
		return -EBUSY;
	old = victim->cookie;
	if (!way_lock(victim, old))
		return -EBUSY;
	if (old && best >> 61 == 1)
		COUNT(reclaimed);
	else if (old)
		COUNT(evictions);
	victim->cookie = cookie;
	victim->entry = *n;
	way_unlock(victim);
	return 0;
}

/* Frees the way of `cookie`: 0, or -ENOENT if it has none. */
static __always_inline long delete_entry(__u64 cookie)
{
	struct sr_way *w = find_way(cookie);

	if (!w || !way_lock(w, cookie))
		return -ENOENT;
	w->cookie = 0;
	way_unlock(w);
	return 0;
}

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

/* Addresses and ports from a sock_common: the full socket's own (a BTF pointer: plain loads,
 * no helper calls) or a stack copy of a mini-socket's (one probe read, see emit_tw()). */
static __always_inline void fill_tuple(struct sr_event *ev, const struct sock_common *c,
				       __u32 netns, __u16 sport)
{
	ev->family = c->skc_family;
	ev->netns = netns;
	ev->sport = sport;
	ev->dport = bpf_ntohs(c->skc_dport);
	if (ev->family == AF_INET6) {
		__builtin_memcpy(ev->saddr, &c->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(ev->daddr, &c->skc_v6_daddr, 16);
	} else {
		__u32 saddr = c->skc_rcv_saddr, daddr = c->skc_daddr;

		__builtin_memcpy(ev->saddr, &saddr, 4);
		__builtin_memcpy(ev->daddr, &daddr, 4);
	}
}

static __always_inline bool stream_wanted(const struct sock_common *c, __u32 netns, __u16 sport)
{
	if (!stream_events)
		return false;
	if (filter_netns && netns != filter_netns)
		return false;
	if (filter_port && sport != filter_port && bpf_ntohs(c->skc_dport) != filter_port)
		return false;
	return true;
}

/* sport in host byte order. */
static __always_inline void emit(const struct sock_common *c, __u32 netns, __u16 sport, __u64 now,
				 __u64 cookie, const struct sr_entry *e, __u8 old_state,
				 __u8 new_state, __u8 kind, __u64 old_entered, __u8 flags)
{
	struct sr_event *ev;

	if (!stream_wanted(c, netns, sport))
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		COUNT(ring_drops);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = now;
	ev->cookie = cookie;
	ev->old_entered_ns = old_entered;
	ev->old_state = old_state;
	ev->new_state = new_state;
	ev->kind = kind;
	ev->flags = flags;
	if (e) {
		ev->owner = e->owner;
		ev->role = e->role;
		if (e->flags & SR_F_BORN_TRACED)
			ev->flags |= SR_EVF_BORN_TRACED;
	} else {
		ev->flags |= SR_EVF_NO_ENTRY;
	}
	fill_tuple(ev, c, netns, sport);
	bpf_ringbuf_submit(ev, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes
				       ? BPF_RB_FORCE_WAKEUP
				       : BPF_RB_NO_WAKEUP);
}

/* A mini-socket is reached by pointer arithmetic from its timer, not as a BTF pointer: copy
 * its sock_common once (tw_num is the local port in host order), only when streaming. */
static __always_inline void emit_tw(struct inet_timewait_sock *tw, __u64 now, __u64 cookie,
				    const struct sr_entry *e, __u8 old_state, __u8 new_state,
				    __u8 kind, __u64 old_entered, __u8 flags)
{
	struct sock_common copy;
	__u32 netns;

	if (!stream_events)
		return;
	if (bpf_probe_read_kernel(&copy, sizeof(copy), &tw->__tw_common))
		return;
	netns = BPF_CORE_READ((struct net *)copy.skc_net.net, ns.inum);
	emit(&copy, netns, copy.skc_num, now, cookie, e, old_state, new_state, kind, old_entered,
	     flags);
}

/* The full socket's netns inode and local port (host order; 0 before connect() picked one). */
static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

static __always_inline __u8 old_flags(const struct sr_entry *e)
{
	if (!e || !(e->flags & SR_F_ENTRY_SEEN))
		return 0;
	return SR_EVF_OLD_SEEN | ((e->flags & SR_F_FROM_TIMER) ? SR_EVF_OLD_TIMER : 0);
}

static __always_inline struct inet_timewait_sock *tw_of(struct timer_list *timer)
{
	return (void *)((unsigned long)timer -
			bpf_core_field_offset(struct inet_timewait_sock, tw_timer));
}

static __always_inline __u64 tw_cookie(struct inet_timewait_sock *tw)
{
	return BPF_CORE_READ(tw, __tw_common.skc_cookie.counter);
}

/* When a mini-socket's TIME_WAIT began, from its timer: the kernel set it to expire
 * TCP_TIMEWAIT_LEN (60 s) after the FIN. 0 if CONFIG_HZ is unknown or the result is absurd. */
static __always_inline __u64 tw_entered_from_timer(struct timer_list *timer, __u64 now)
{
	__u64 hz = CONFIG_HZ;
	__s64 ago;

	if (hz == 0)
		return 0;
	ago = (__s64)(bpf_jiffies64() - (BPF_CORE_READ(timer, expires) - 60 * hz));
	if (ago < 0 || (__u64)ago * (NSEC_PER_SEC / hz) > now)
		return 0;
	return now - (__u64)ago * (NSEC_PER_SEC / hz);
}

static __always_inline struct timer_list *timer_of(struct inet_timewait_sock *tw)
{
	return (void *)((unsigned long)tw + bpf_core_field_offset(struct inet_timewait_sock, tw_timer));
}

/* The entry moves to the mini-socket's current substate. Returns the flags for the event. */
static __always_inline __u8 move_to_substate(struct sr_entry *e, __u8 sub,
					     struct timer_list *timer, __u64 now, __u64 *at)
{
	__u64 from_timer = sub == TCP_TIME_WAIT ? tw_entered_from_timer(timer, now) : 0;

	e->state = sub;
	e->flags &= ~(SR_F_ENTRY_SEEN | SR_F_FROM_TIMER);
	*at = now;
	if (!from_timer)
		return 0;
	e->entered_ns = from_timer;
	e->flags |= SR_F_ENTRY_SEEN | SR_F_FROM_TIMER;
	*at = from_timer;
	return SR_EVF_TIME_FROM_TIMER;
}

struct sweep_ctx {
	__u32 watching;
};

static long sweep_one(struct bpf_map *map, __u64 *key, struct fw2_value *val,
		      struct sweep_ctx *ctx)
{
	struct inet_timewait_sock *tw = (void *)*key;
	__u64 now = now_ns(), cookie = val->cookie, old_entered, at;
	struct sr_entry *e;
	struct sr_way *w;
	__u8 sub, old, oflags, tflags;

	if (tw_cookie(tw) != cookie) { /* gone without an event we saw: memory reused */
		bpf_map_delete_elem(&fw2_minisocks, key);
		return 0;
	}
	sub = BPF_CORE_READ(tw, tw_substate);
	if (sub == TCP_FIN_WAIT2) {
		ctx->watching = 1; /* a flag: a counter would make each iteration a new verifier state */
		return 0;
	}
	bpf_map_delete_elem(&fw2_minisocks, key);
	w = find_way(cookie);
	if (!w || !way_lock(w, cookie))
		return 0;
	e = &w->entry;
	if (!(e->flags & SR_F_MINISOCK) || e->state == sub) {
		way_unlock(w);
		return 0;
	}
	old = e->state;
	old_entered = e->entered_ns;
	oflags = old_flags(e);
	tflags = move_to_substate(e, sub, timer_of(tw), now, &at);
	if (!tflags)
		e->entered_ns = now; /* HZ unknown: the sweep time, not exact */
	COUNT(tw_swept);
	emit_tw(tw, at, cookie, e, old, sub, SR_EV_STATE, old_entered, oflags | tflags);
	way_unlock(w);
	return 0;
}

static int sweep(void *map, __u32 *key, struct sweeper *sw)
{
	struct sweep_ctx ctx = {};

	sw->armed = 0; /* first: a watch added meanwhile re-arms */
	bpf_for_each_map_elem(&fw2_minisocks, sweep_one, &ctx, 0);
	if (ctx.watching) {
		sw->armed = 1;
		bpf_timer_start(&sw->timer, SWEEP_NS, 0);
	}
	return 0;
}

static __always_inline void watch_fw2(struct inet_timewait_sock *tw, __u64 cookie)
{
	struct fw2_value v = { .cookie = cookie };
	__u64 key = (__u64)tw;
	__u32 zero = 0;
	struct sweeper *sw;

	bpf_map_update_elem(&fw2_minisocks, &key, &v, BPF_ANY);
	sw = bpf_map_lookup_elem(&sweepers, &zero);
	if (!sw || sw->armed)
		return;
	if (!sw->initialised) {
		bpf_timer_init(&sw->timer, &sweepers, CLOCK_MONOTONIC);
		bpf_timer_set_callback(&sw->timer, sweep);
		sw->initialised = 1;
	}
	sw->armed = 1;
	bpf_timer_start(&sw->timer, SWEEP_NS, 0);
}

static __always_inline void unwatch_fw2(struct inet_timewait_sock *tw)
{
	__u64 key = (__u64)tw;

	bpf_map_delete_elem(&fw2_minisocks, &key);
}

/* At a mini-socket's end: a substate change the sweep has not reported yet. */
static __always_inline void catch_up_substate(struct sr_entry *e, struct inet_timewait_sock *tw,
					      struct timer_list *timer, __u64 now)
{
	__u8 sub = BPF_CORE_READ(tw, tw_substate);
	__u64 at;

	if (sub != e->state)
		move_to_substate(e, sub, timer, now, &at);
}

static __always_inline void tw_gone(struct inet_timewait_sock *tw, struct timer_list *timer,
				    __u64 cookie, __u64 now, __u8 kind)
{
	struct sr_way *w;

	if (kind == SR_EV_TW_EXPIRE)
		COUNT(tw_expires);
	else
		COUNT(tw_kills);
	if (!stream_events) {
		/* Nothing to report: delete without reading the entry (a bucket walk saved per
		 * connection), and leave the FIN_WAIT2 watch list alone unless the mini-socket is
		 * still FIN_WAIT2 (another walk and a bucket lock): a mini-socket that became
		 * TIME_WAIT has left it, or the sweep drops it within 50 ms (its cookie is gone). */
		if (BPF_CORE_READ(tw, tw_substate) == TCP_FIN_WAIT2)
			unwatch_fw2(tw);
		if (delete_entry(cookie) == 0)
			COUNT(deletes);
		else
			COUNT(tw_untracked);
		return;
	}
	w = find_way(cookie);
	unwatch_fw2(tw);
	if (!w || !way_lock(w, cookie)) {
		COUNT(tw_untracked);
		emit_tw(tw, now, cookie, 0, BPF_CORE_READ(tw, tw_substate), TCP_CLOSE, kind, 0, 0);
		return;
	}
	catch_up_substate(&w->entry, tw, timer ? timer : timer_of(tw), now);
	emit_tw(tw, now, cookie, &w->entry, w->entry.state, TCP_CLOSE, kind, w->entry.entered_ns,
		old_flags(&w->entry));
	w->cookie = 0;
	way_unlock(w);
	COUNT(deletes);
}

/* Settles this CPU's pending cancel. Returns true if it was `timer` (the caller's event
 * explains it); otherwise a cancel not followed by start or expiry was an early kill. */
static __always_inline bool settle_pending(struct timer_list *timer)
{
	struct sr_cpu_slot *p = cpu_slot();
	struct inet_timewait_sock *tw;
	__u64 cookie, now;

	if (!p || !p->timer)
		return false;
	if (timer && p->timer == (__u64)timer) {
		p->timer = 0;
		return true;
	}
	tw = tw_of((struct timer_list *)p->timer);
	cookie = p->cookie;
	now = p->ts_ns;
	p->timer = 0;
	if (cookie)
		tw_gone(tw, 0, cookie, now, SR_EV_TW_KILL);
	return false;
}

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

/* A mini-socket the register has no entry for (its full socket is older, or was evicted). */
static __always_inline void tw_start_untracked(struct inet_timewait_sock *tw, __u64 cookie,
					       __u8 sub, __u64 now, bool rearm)
{
	struct sr_entry n = { .entered_ns = now, .state = sub, .flags = SR_F_MINISOCK };

	/* A fresh TIME_WAIT starts now; a FIN_WAIT2 mini-socket or a re-arm continues a state
	 * that began before we saw it. */
	if (!rearm && sub == TCP_TIME_WAIT)
		n.flags |= SR_F_ENTRY_SEEN;
	COUNT(tw_untracked);
	if (insert_entry(cookie, &n, now) == 0)
		COUNT(inserts);
	else
		COUNT(insert_failures);
	if (sub == TCP_FIN_WAIT2)
		watch_fw2(tw, cookie);
	emit_tw(tw, now, cookie, &n, sub, sub, rearm ? SR_EV_TW_RESTART : SR_EV_TW_START, 0, 0);
}

/* The entry (locked by the caller) of a full socket just replaced by a mini-socket, or of a
 * mini-socket whose timer was restarted. */
static __always_inline void tw_start_tracked(struct inet_timewait_sock *tw, struct sr_entry *e,
					     __u64 cookie, __u8 sub, __u64 now)
{
	__u64 old_entered = e->entered_ns;
	__u8 old = e->state, oflags = old_flags(e);

	if (!(e->flags & SR_F_MINISOCK)) {
		struct sr_cpu_slot *slot = cpu_slot();

		COUNT(tw_starts);
		e->flags |= SR_F_MINISOCK;
		if (slot) /* the full socket's ->CLOSE follows on this CPU (tcp_time_wait) */
			slot->superseded = cookie;
		if (sub != old) {
			e->state = sub;
			e->entered_ns = now;
			e->flags = (e->flags & ~SR_F_FROM_TIMER) | SR_F_ENTRY_SEEN;
		}
		if (sub == TCP_FIN_WAIT2)
			watch_fw2(tw, cookie);
		emit_tw(tw, now, cookie, e, old, sub, SR_EV_TW_START, old_entered, oflags);
		return;
	}
	if (sub != old) { /* FIN_WAIT2 mini-socket got the peer's FIN: TIME_WAIT from now */
		unwatch_fw2(tw);
		e->state = sub;
		e->entered_ns = now;
		e->flags = (e->flags & ~SR_F_FROM_TIMER) | SR_F_ENTRY_SEEN;
		emit_tw(tw, now, cookie, e, old, sub, SR_EV_STATE, old_entered, oflags);
		return;
	}
	COUNT(tw_restarts);
	emit_tw(tw, now, cookie, e, old, sub, SR_EV_TW_RESTART, old_entered, oflags);
}

SEC("tp_btf/timer_start")
int BPF_PROG(on_timer_start, struct timer_list *timer, unsigned long expires)
{
	struct inet_timewait_sock *tw;
	struct sr_way *w;
	__u64 now, cookie;
	bool rearm;
	__u8 sub;

	if ((__u64)timer->function != tw_timer_fn)
		return 0;
	now = now_ns();
	rearm = settle_pending(timer);
	tw = tw_of(timer);
	cookie = tw_cookie(tw);
	if (!cookie) { /* the full socket never had its cookie made: nothing to key it by */
		COUNT(tw_untracked);
		return 0;
	}
	sub = BPF_CORE_READ(tw, tw_substate);
	w = find_way(cookie);
	if (!w) {
		tw_start_untracked(tw, cookie, sub, now, rearm);
		return 0;
	}
	if (!way_lock(w, cookie)) /* replaced meanwhile by another socket's insert */
		return 0;
	tw_start_tracked(tw, &w->entry, cookie, sub, now);
	way_unlock(w);
	return 0;
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(on_timer_cancel, struct timer_list *timer)
{
	struct sr_cpu_slot *slot;
	__u64 now;

	if ((__u64)timer->function != tw_timer_fn)
		return 0;
	now = now_ns();
	settle_pending(0);
	slot = cpu_slot();
	if (!slot)
		return 0;
	slot->cookie = tw_cookie(tw_of(timer));
	slot->ts_ns = now;
	slot->timer = (__u64)timer;
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(on_timer_expire, struct timer_list *timer, unsigned long baseclk)
{
	struct inet_timewait_sock *tw;
	__u64 now, cookie;

	if ((__u64)timer->function != tw_timer_fn)
		return 0;
	now = now_ns();
	settle_pending(timer);
	tw = tw_of(timer);
	cookie = tw_cookie(tw);
	if (!cookie) {
		COUNT(tw_untracked);
		return 0;
	}
	tw_gone(tw, timer, cookie, now, SR_EV_TW_EXPIRE);
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
