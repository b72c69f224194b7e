// SPDX-License-Identifier: GPL-2.0
/* iter/tcp: every TCP socket of the reader's network namespace as a fixed-size record
 * (tcp_sockets.h) carrying what inet_diag's sk_diag_fill would report for it — state, timer,
 * queues, uid, inode, cookie, cgroup and the tcp_info fields sockdoctor reads — without netlink
 * messages: the kernel formats nothing and user space parses nothing. Field by field it follows
 * net/ipv4/inet_diag.c (inet_sk_diag_fill, inet_twsk_diag_fill, inet_req_diag_fill),
 * net/ipv4/tcp_diag.c (tcp_diag_get_info) and tcp_get_info(); the tests compare both paths. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "tcp_sockets.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define ICSK_TIME_RETRANS 1
#define ICSK_TIME_PROBE0 3
#define ICSK_TIME_LOSS_PROBE 5
#define ICSK_TIME_REO_TIMEOUT 6

/* A typed view of a kernel pointer (Linux 6.2+), for direct loads instead of probe-read calls. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

__u64 records_seen; /* read from .bss by user space after the iteration */
/* Set by user space before each iterator is created (reads are serialised). */
__u32 state_mask; /* bit (1 << state) of the states wanted, as idiag_states */
__u32 families;   /* bit 0: AF_INET, bit 1: AF_INET6 */

/* Summary mode (tcp_sockets.h). Set by user space before each iterator, with the reader's
 * namespace's ip_local_port_range and ip_local_reserved_ports. */
__u32 summary;
__u32 aggregate_mask; /* bit (1 << state): counted, not written (sockets with no fd excepted) */
__u32 port_low, port_high;
__u64 reserved_ports[1024]; /* bitmap of ip_local_reserved_ports */
/* Filled during the walk: iter/tcp visits the listening hash before the established hash, so
 * every listener's port is known before the first connection is classified. */
__u64 listening_ports[1024];
__u64 aggregated[16];  /* per reported state: sockets counted instead of written */
__u64 tw_incoming;     /* aggregated TIME_WAIT entries on a listening port */
__u64 tw_outgoing;     /* and on an ephemeral port */
__u32 tuples_full;     /* port_tuples had no room: the summary is incomplete */
__u32 order_broken;    /* a listener came after a connection: the classification is unsound */
__u32 past_listeners;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCP_SOCKETS_MAX_TUPLES);
	__type(key, struct tcp_sockets_tuple_key);
	__type(value, struct tcp_sockets_tuple_value);
} port_tuples SEC(".maps");

/* inet_diag's filter (inet_diag_dump_icsk): the state it would report — tw_substate for a
 * timewait socket, SYN_RECV for a request — against idiag_states; TCP_CLOSE never. */
static __always_inline bool wanted(struct sock_common *skc, __u8 reported)
{
	__u32 fam = skc->skc_family == AF_INET ? 1 : skc->skc_family == AF_INET6 ? 2 : 0;

	if (!(families & fam) || reported == 7 /* TCP_CLOSE */ || reported > 31)
		return false;
	return state_mask & (1u << reported);
}

static __always_inline __u32 left(unsigned long expires, __u64 now)
{
	long d = (long)(expires - (unsigned long)now);

	return d > 0 ? (__u32)d : 0;
}

static __always_inline void fill_common(struct tcp_sockets_record *r, struct sock_common *skc)
{
	r->family = skc->skc_family;
	r->sport = skc->skc_num;
	r->dport = __builtin_bswap16(skc->skc_dport);
	/* Direct loads of BTF pointers (probe-mem) instead of bpf_probe_read_kernel calls: the
	 * helper calls were a tenth of the iterator's kernel time. */
	r->netns = skc->skc_net.net->ns.inum;
	r->cookie = bpf_get_socket_cookie(skc);
	if (r->family == AF_INET6) {
		__builtin_memcpy(r->saddr, &skc->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(r->daddr, &skc->skc_v6_daddr, 16);
	} else {
		__builtin_memcpy(r->saddr, &skc->skc_rcv_saddr, 4);
		__builtin_memcpy(r->daddr, &skc->skc_daddr, 4);
	}
}

static __always_inline void fill_timer(struct tcp_sockets_record *r, struct tcp_sock *tp,
				       __u64 now)
{
	struct inet_connection_sock *icsk = &tp->inet_conn;
	__u8 pending = icsk->icsk_pending;

	if (pending == ICSK_TIME_RETRANS || pending == ICSK_TIME_REO_TIMEOUT ||
	    pending == ICSK_TIME_LOSS_PROBE) {
		r->timer = 1;
		r->retrans = icsk->icsk_retransmits;
		r->timer_left = left(icsk->icsk_retransmit_timer.expires, now);
	} else if (pending == ICSK_TIME_PROBE0) {
		r->timer = 4;
		r->retrans = icsk->icsk_probes_out;
		r->timer_left = left(icsk->icsk_retransmit_timer.expires, now);
	} else if (icsk->icsk_inet.sk.sk_timer.entry.pprev) { /* timer_pending(&sk->sk_timer) */
		r->timer = 2;
		r->retrans = icsk->icsk_probes_out;
		r->timer_left = left(icsk->icsk_inet.sk.sk_timer.expires, now);
	}
}

/* tcpi_options as tcp_get_info() sets its first five bits: TIMESTAMPS, SACK, WSCALE, ECN,
 * ECN_SEEN. (SYN_DATA, USEC_TS and TFO_CHILD are not read: sockdoctor uses the first bit.) */
static __always_inline __u8 tcpi_options(struct tcp_sock *tp)
{
	/* A local pointer roots the bitfield relocations at tcp_options_received; written inline as
	 * &tp->rx_opt the offset of rx_opt inside tcp_sock would be added twice. */
	struct tcp_options_received *rx = &tp->rx_opt;
	__u8 ecn = tp->ecn_flags;
	__u8 o = 0;

	barrier_var(rx);
	if (BPF_CORE_READ_BITFIELD(rx, tstamp_ok))
		o |= 1;
	if (BPF_CORE_READ_BITFIELD(rx, sack_ok))
		o |= 2;
	if (BPF_CORE_READ_BITFIELD(rx, wscale_ok))
		o |= 4;
	if (ecn & 1 /* TCP_ECN_OK */)
		o |= 8;
	if (ecn & 8 /* TCP_ECN_SEEN */)
		o |= 16;
	return o;
}

static __always_inline void fill_full(struct tcp_sockets_record *r, struct tcp_sock *tp,
				      __u64 now)
{
	struct inet_connection_sock *icsk = &tp->inet_conn;
	struct sock *sk = &icsk->icsk_inet.sk;
	struct socket *so = sk->sk_socket;
	struct cgroup *cg = sk->sk_cgrp_data.cgroup;

	r->kind = TCP_SOCKETS_FULL;
	r->state = sk->__sk_common.skc_state;
	r->uid = sk->sk_uid.val;
	/* sock_i_ino(): the inode that follows struct socket in struct socket_alloc. */
	if (so) {
		struct socket_alloc *sa =
			bpf_rdonly_cast(so, bpf_core_type_id_kernel(struct socket_alloc));

		r->inode = sa->vfs_inode.i_ino;
	}
	if (cg)
		r->cgroup_id = cg->kn->id;
	fill_timer(r, tp, now);
	if (r->state == 10 /* TCP_LISTEN */) {
		r->recv_q = sk->sk_ack_backlog;
		r->send_q = sk->sk_max_ack_backlog;
		return;
	}
	{
		int rq = (int)(tp->rcv_nxt - tp->copied_seq);

		r->recv_q = rq > 0 ? rq : 0;
	}
	r->send_q = tp->write_seq - tp->snd_una;
	r->retransmits = icsk->icsk_retransmits;
	r->probes = icsk->icsk_probes_out;
	r->backoff = icsk->icsk_backoff;
	r->options = tcpi_options(tp);
	r->rto = icsk->icsk_rto;
	r->rtt_us = tp->srtt_us >> 3;
	r->rttvar_us = tp->mdev_us >> 2;
	r->sent_ago = (__u32)now - tp->lsndtime;
	r->recv_ago = (__u32)now - icsk->icsk_ack.lrcvtime;
	r->ack_ago = (__u32)now - tp->rcv_tstamp;
}

static __always_inline bool port_bit(__u64 *bitmap, __u16 port)
{
	return bitmap[(port >> 6) & 1023] & (1ull << (port & 63));
}

/* EphemeralPorts::ephemeral() of analyze/port_budget.cpp, for one namespace. */
static __always_inline bool ephemeral(__u16 port)
{
	return port >= port_low && port <= port_high && !port_bit(reserved_ports, port) &&
	       !port_bit(listening_ports, port);
}

static __always_inline void count_tuple(struct sock_common *skc, bool tw, __u32 timer_left)
{
	struct tcp_sockets_tuple_key k = {};
	struct tcp_sockets_tuple_value *v, init = {};

	k.family = skc->skc_family;
	k.dport = __builtin_bswap16(skc->skc_dport);
	if (k.family == AF_INET6) {
		__builtin_memcpy(k.saddr, &skc->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(k.daddr, &skc->skc_v6_daddr, 16);
	} else {
		__builtin_memcpy(k.saddr, &skc->skc_rcv_saddr, 4);
		__builtin_memcpy(k.daddr, &skc->skc_daddr, 4);
	}
	v = bpf_map_lookup_elem(&port_tuples, &k);
	if (!v) {
		init.tw_left_min = 0xffffffff;
		if (bpf_map_update_elem(&port_tuples, &k, &init, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&port_tuples, &k)) {
			tuples_full = 1;
			return;
		}
		v = bpf_map_lookup_elem(&port_tuples, &k);
		if (!v) {
			tuples_full = 1;
			return;
		}
	}
	/* One reader at a time (user space serialises iterators): plain adds suffice. */
	if (tw) {
		v->time_wait++;
		if (timer_left < v->tw_left_min)
			v->tw_left_min = timer_left;
		if (timer_left > v->tw_left_max)
			v->tw_left_max = timer_left;
	} else {
		v->live++;
	}
}

/* Summary mode: true when the socket was counted and must not be written. Sockets without a
 * struct socket (orphans, not yet accepted) are always written: the rules read them. */
static __always_inline bool aggregate(struct sock_common *skc, __u8 state, bool tw,
				      bool has_socket, __u32 timer_left)
{
	__u16 port = skc->skc_num;

	if (!summary)
		return false;
	if (state == 10 /* TCP_LISTEN */) {
		if (past_listeners)
			order_broken = 1;
		listening_ports[(port >> 6) & 1023] |= 1ull << (port & 63);
		return false;
	}
	past_listeners = 1;
	if (!(aggregate_mask & (1u << (state & 31))) || (!tw && !has_socket))
		return false;
	aggregated[state & 15]++;
	if (ephemeral(port)) {
		if (tw)
			tw_outgoing++;
		count_tuple(skc, tw, timer_left);
	} else if (tw && port_bit(listening_ports, port)) {
		tw_incoming++;
	}
	return true;
}

SEC("iter/tcp")
int dump_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sockets_record r = {};
	struct tcp_timewait_sock *tw;
	struct tcp_request_sock *req;
	struct tcp_sock *tp;
	__u64 now;

	if (!skc)
		return 0;
	now = bpf_jiffies64();
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp) {
		if (!wanted(skc, skc->skc_state))
			return 0;
		if (aggregate(skc, skc->skc_state, false, tp->inet_conn.icsk_inet.sk.sk_socket, 0))
			return 0;
		fill_full(&r, tp, now);
	} else if ((tw = bpf_skc_to_tcp_timewait_sock(skc))) {
		r.kind = TCP_SOCKETS_TIMEWAIT;
		r.state = tw->tw_sk.tw_substate;
		if (!wanted(skc, r.state))
			return 0;
		r.timer = 3;
		r.timer_left = left(tw->tw_sk.tw_timer.expires, now);
		if (aggregate(skc, r.state, true, false, r.timer_left))
			return 0;
	} else if ((req = bpf_skc_to_tcp_request_sock(skc))) {
		r.kind = TCP_SOCKETS_REQUEST;
		r.state = 3; /* TCP_SYN_RECV */
		if (!wanted(skc, r.state))
			return 0;
		past_listeners = summary;
		r.timer = 1;
		r.retrans = req->req.req.num_retrans;
		r.timer_left = left(req->req.req.rsk_timer.expires, now);
	} else {
		return 0;
	}
	fill_common(&r, skc);
	if (bpf_seq_write(ctx->meta->seq, &r, sizeof(r)) == 0)
		records_seen++;
	return 0;
}
