/* C face of the owner scan's light skeleton (task_sockets.bpf.c; bpftool gen skeleton -L
 * generates C only). The kernel does its CO-RE relocations and finds bpf_iter_task_file in its
 * own BTF, so the process never parses /sys/kernel/btf/vmlinux (docs/performance.md). */
#ifndef SOCKDOCTOR_TASK_SOCKETS_LOADER_H
#define SOCKDOCTOR_TASK_SOCKETS_LOADER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct taski_loader;

/* What the walk left in .bss. */
struct taski_totals {
	uint64_t tasks_seen;
	uint64_t files_seen;
	uint64_t sockets_seen;
	uint64_t sockets_skipped;
};

/* NULL with errno set on failure. */
struct taski_loader *taski_loader_open(void);
/* 0 or -errno. log_buf: the verifier's log (SOCKDOCTOR_BPF_DEBUG=1); NULL: none. */
int taski_loader_load(struct taski_loader *l, char *log_buf, uint32_t log_size);
/* The iter/task_file link over every task (no iter info; detached by destroy): 0 or -errno. */
int taski_loader_attach(struct taski_loader *l);
int taski_loader_link_fd(const struct taski_loader *l);
/* Before each walk: zero the totals, set the TCP states whose sockets are left out. */
void taski_loader_begin(struct taski_loader *l, uint32_t skip_tcp_states);
void taski_loader_totals(const struct taski_loader *l, struct taski_totals *t);
void taski_loader_destroy(struct taski_loader *l);

#ifdef __cplusplus
}
#endif

#endif /* SOCKDOCTOR_TASK_SOCKETS_LOADER_H */
