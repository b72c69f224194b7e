/* ABI between tcp_sockets.bpf.c and tcp_sockets.cpp: one fixed-size record per TCP socket of the
 * reader's network namespace, with what inet_diag would report for it (see the .bpf.c). */
#ifndef SOCKDOCTOR_TCP_SOCKETS_H
#define SOCKDOCTOR_TCP_SOCKETS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum tcp_sockets_kind {
	TCP_SOCKETS_FULL = 1,      /* struct tcp_sock: listeners and connections */
	TCP_SOCKETS_TIMEWAIT = 2,  /* inet_timewait_sock: TIME_WAIT and FIN_WAIT2 mini-sockets */
	TCP_SOCKETS_REQUEST = 3,   /* request_sock: SYN_RECV before accept() */
};

/* Times are raw jiffies (user space converts with CONFIG_HZ, as jiffies_to_msecs does); "ago"
 * fields are now - stamp, "left" fields expires - now clamped at 0. */
struct tcp_sockets_record {
	__u8 kind;        /* enum tcp_sockets_kind */
	__u8 family;      /* AF_INET, AF_INET6 */
	__u8 state;       /* as inet_diag reports it: tw_substate, SYN_RECV for requests */
	__u8 timer;       /* idiag_timer: 0 off, 1 retransmit, 2 keepalive, 3 timewait, 4 probe0 */
	__u8 retrans;     /* idiag_retrans */
	__u8 options;     /* FULL, not LISTEN: TCPI_OPT_TIMESTAMPS when negotiated */
	__u8 probes;      /* FULL, not LISTEN: icsk_probes_out */
	__u8 backoff;     /* FULL, not LISTEN: icsk_backoff */
	__u8 retransmits; /* FULL, not LISTEN: icsk_retransmits */
	__u8 pad[1];
	__u16 sport;      /* host byte order */
	__u16 dport;      /* host byte order */
	__u16 pad2;
	__u32 netns;      /* inode of the socket's network namespace */
	__u32 inode;      /* socket inode, 0 without a struct socket */
	__u32 uid;
	__u32 recv_q;     /* LISTEN: accept backlog; else rcv_nxt - copied_seq (>= 0) */
	__u32 send_q;     /* LISTEN: max backlog; else write_seq - snd_una */
	__u32 timer_left; /* jiffies */
	__u32 rtt_us;     /* srtt_us >> 3 */
	__u32 rttvar_us;  /* mdev_us >> 2 */
	__u32 rto;        /* jiffies */
	__u32 sent_ago;   /* jiffies since lsndtime */
	__u32 recv_ago;   /* jiffies since icsk_ack.lrcvtime */
	__u32 ack_ago;    /* jiffies since rcv_tstamp */
	__u64 cookie;     /* sock_gen_cookie(): the same cookie inet_diag reports */
	__u64 cgroup_id;  /* FULL: cgroup v2 id of the creating process */
	__u8 saddr[16];   /* network byte order; AF_INET uses the first 4 bytes */
	__u8 daddr[16];
};

#define TCP_SOCKETS_RECORD_SIZE 112

/* Summary mode (tcp_sockets.bpf.c, `summary` set): the sockets of the states in
 * `aggregate_mask` that no rule reads one by one are counted instead of written — ESTABLISHED
 * sockets with a struct socket, TIME_WAIT entries. Those on an ephemeral local port (in
 * [port_low, port_high], not reserved, not a port a listener of the namespace holds) are also
 * counted per destination in the port_tuples hash map: the port budget of check's rules. */
struct tcp_sockets_tuple_key {
	__u8 family;
	__u8 pad;
	__u16 dport;     /* host byte order */
	__u8 saddr[16];  /* network byte order; AF_INET uses the first 4 bytes */
	__u8 daddr[16];
};

struct tcp_sockets_tuple_value {
	__u64 live;          /* aggregated sockets other than TIME_WAIT entries */
	__u64 time_wait;     /* TIME_WAIT entries */
	__u32 tw_left_min;   /* jiffies left on the TIME_WAIT timers: the oldest entry's */
	__u32 tw_left_max;   /* and the youngest's (valid when time_wait > 0) */
};

#define TCP_SOCKETS_TUPLE_KEY_SIZE 36
#define TCP_SOCKETS_TUPLE_VALUE_SIZE 24
#define TCP_SOCKETS_MAX_TUPLES 32768

#endif /* SOCKDOCTOR_TCP_SOCKETS_H */
