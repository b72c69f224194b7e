// SPDX-License-Identifier: GPL-2.0
/* The state register's ring records (`trace`'s stream): the filter, the tuple of a full socket
 * or of a mini-socket. Part of state_register.bpf.c, which includes it after its maps. */
#ifndef SOCKDOCTOR_STATE_REGISTER_EMIT_BPF_H
#define SOCKDOCTOR_STATE_REGISTER_EMIT_BPF_H

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

#endif /* SOCKDOCTOR_STATE_REGISTER_EMIT_BPF_H */
