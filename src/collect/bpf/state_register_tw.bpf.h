// SPDX-License-Identifier: GPL-2.0
/* The state register's mini-sockets as the tw timer shows them (TIME_WAIT and FIN_WAIT2
 * inet_timewait_socks, which inet_sock_set_state never reports): the FIN_WAIT2 sweep, a
 * mini-socket's end, pending cancels, and the timer programs. Only `trace`'s register attaches
 * the timer programs; the register alone takes mini-sockets from ->CLOSE (tw_from_close). Part
 * of state_register.bpf.c, which includes it after the table and the ring records. */
#ifndef SOCKDOCTOR_STATE_REGISTER_TW_BPF_H
#define SOCKDOCTOR_STATE_REGISTER_TW_BPF_H

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

#endif /* SOCKDOCTOR_STATE_REGISTER_TW_BPF_H */
