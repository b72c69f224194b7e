// SPDX-License-Identifier: GPL-2.0
/* iter/task_file: every socket fd of every process, as fixed-size records (see task_sockets.h). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "task_sockets.h"

char LICENSE[] SEC("license") = "GPL";

/* The iterator walks tasks in pid order and all files of one task in a row, so per-process totals
 * are kept here and flushed when the task changes. seq_file re-runs an element whose output
 * overflowed the buffer (the next read() starts with it again), so this state is committed only
 * after every bpf_seq_write of the element succeeded: a re-run must see the same state. */
__u32 cur_tgid;    /* global tgid of the process being walked, 0 = none */
__u32 cur_ns_tgid; /* the same, in the reader's pid namespace */
__u32 cur_files;
__u32 cur_sockets;

/* Set by user space before each iterator: TCP sockets in these states (bit 1 << sk_state) are
 * left out, because the socket iterator counted them instead of listing them (summary mode of
 * tcp_sockets.bpf.c) and nobody asks for their owners. 0: every socket fd. */
__u32 skip_tcp_states;
__u64 sockets_skipped;

/* Totals for user space, read from .bss after the iteration ended. */
__u64 tasks_seen; /* thread-group leaders with at least one open file */
__u64 files_seen;
__u64 sockets_seen;

/* task->tgid is the pid in the initial namespace. The iterator only visits tasks of the reader's
 * pid namespace, and /proc there shows the number at the reader's level. */
static __always_inline __u32 tgid_in_reader_ns(struct task_struct *leader)
{
	struct task_struct *me = bpf_get_current_task_btf();
	unsigned int level = BPF_CORE_READ(me, thread_pid, level);
	struct pid *pid = BPF_CORE_READ(leader, thread_pid);
	struct upid upid;

	if (level == 0)
		return leader->tgid;
	if (!pid || BPF_CORE_READ(pid, level) < level)
		return 0;
	if (bpf_probe_read_kernel(&upid, sizeof(upid),
				  (void *)pid + bpf_core_field_offset(struct pid, numbers) +
					  level * bpf_core_type_size(struct upid)))
		return 0;
	return upid.nr;
}

static __always_inline int emit_process(struct seq_file *seq)
{
	struct task_sockets_record rec = {
		.kind = TASK_SOCKETS_PROCESS,
		.tgid = cur_ns_tgid,
		.fd = cur_files,
	};

	if (cur_tgid == 0 || cur_sockets == 0)
		return 0;
	return bpf_seq_write(seq, &rec, sizeof(rec));
}

/* Family and state share a cache line of struct sock_common, which the family read below touches
 * anyway. No protocol test (sk_protocol lives on another line: a cache miss per fd at a million
 * fds): a stream socket of another protocol in these states (MPTCP, SCTP) is never a TCP record
 * of the socket iterator, so leaving its owner out changes nothing. */
static __always_inline bool skipped(struct sock *sk)
{
	__u16 family;

	if (!sk)
		return false;
	family = sk->__sk_common.skc_family;
	if (family != 2 /* AF_INET */ && family != 10 /* AF_INET6 */)
		return false;
	return skip_tcp_states & (1u << (sk->__sk_common.skc_state & 31));
}

SEC("iter/task_file")
int dump_task_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct task_sockets_record rec = {};
	struct socket *sock;
	bool new_task;
	__u32 ns_tgid;

	if (!task || !file) { /* end of the iteration */
		if (emit_process(seq) == 0)
			cur_tgid = 0;
		return 0;
	}
	/* Threads that share the leader's table are skipped by the kernel already; threads with an
	 * unshared table (unshare(CLONE_FILES)) are not in /proc/PID/fd either. */
	if (task->pid != task->tgid)
		return 0;

	new_task = task->tgid != cur_tgid;
	if (new_task && emit_process(seq))
		return 0;
	ns_tgid = new_task ? tgid_in_reader_ns(task) : cur_ns_tgid;

	sock = bpf_sock_from_file(file);
	if (sock && skip_tcp_states && skipped(sock->sk)) {
		sockets_skipped++;
		sock = NULL;
	}
	if (sock) {
		struct sock *sk = sock->sk;

		rec.kind = TASK_SOCKETS_SOCKET;
		rec.tgid = ns_tgid;
		rec.fd = ctx->fd;
		rec.inode = file->f_inode->i_ino;
		rec.sk = (__u64)sk;
		rec.family = sk ? sk->__sk_common.skc_family : 0;
		if (bpf_seq_write(seq, &rec, sizeof(rec)))
			return 0;
	}

	if (new_task) {
		cur_tgid = task->tgid;
		cur_ns_tgid = ns_tgid;
		cur_files = 0;
		cur_sockets = 0;
		tasks_seen++;
	}
	cur_files++;
	files_seen++;
	if (sock) {
		cur_sockets++;
		sockets_seen++;
	}
	return 0;
}
