/* ABI between task_sockets.bpf.c and bpf_owners.cpp: the fixed-size records of the iterator. */
#ifndef SOCKDOCTOR_TASK_SOCKETS_H
#define SOCKDOCTOR_TASK_SOCKETS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum task_sockets_kind {
	/* One socket fd of a process: fd, inode, sk, family are set. */
	TASK_SOCKETS_SOCKET = 1,
	/* Written after the last file of a process that holds at least one socket:
	 * fd is the number of open fds of that process (what /proc/PID/fd would list). */
	TASK_SOCKETS_PROCESS = 2,
};

/* Iterator output is a plain stream of these, no text: user space reads them in big chunks. */
struct task_sockets_record {
	__u32 kind;   /* enum task_sockets_kind */
	__u32 tgid;   /* in the pid namespace of the reader, like the /proc it would read */
	__u32 fd;     /* SOCKET: fd number; PROCESS: open fd count */
	__u32 family; /* SOCKET: sk->sk_family (AF_UNIX, AF_INET, ...); 0 if no sk */
	__u64 inode;  /* SOCKET: the socket:[N] inode */
	__u64 sk;     /* SOCKET: struct sock address, the join key with iter/tcp */
};

#define TASK_SOCKETS_RECORD_SIZE 32

#endif /* SOCKDOCTOR_TASK_SOCKETS_H */
