/* C face of the socket iterator's light skeleton (tcp_sockets.bpf.c; bpftool gen skeleton -L
 * generates C only). The kernel does its CO-RE relocations and finds bpf_iter_tcp and the
 * bpf_rdonly_cast kfunc in its own BTF, so the process never parses /sys/kernel/btf/vmlinux
 * (a full skeleton's load holds it twice in the heap: +11 MB of peak RSS, docs/performance.md). */
#ifndef SOCKDOCTOR_TCP_SOCKETS_LOADER_H
#define SOCKDOCTOR_TCP_SOCKETS_LOADER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tcpi_loader;

#define TCPI_PORT_WORDS 1024 /* 65536 ports, one bit each */
#define TCPI_STATES 16

/* Set before the load. */
struct tcpi_loader_config {
	uint32_t max_tuples; /* entries of port_tuples; 0: TCP_SOCKETS_MAX_TUPLES */
	/* The verifier's log of the program (SOCKDOCTOR_BPF_DEBUG=1); NULL: none. */
	char *log_buf;
	uint32_t log_size;
};

/* The .bss settings of one walk (tcp_sockets.bpf.c); what the walk fills is zeroed with them. */
struct tcpi_walk {
	uint32_t state_mask;
	uint32_t families;
	uint32_t summary;
	uint32_t aggregate_mask;
	uint32_t port_low;
	uint32_t port_high;
	const uint64_t *reserved_ports; /* TCPI_PORT_WORDS words; NULL: none reserved */
};

/* What the walk left in .bss. */
struct tcpi_totals {
	uint64_t records_seen;
	uint64_t aggregated[TCPI_STATES];
	uint64_t tw_incoming;
	uint64_t tw_outgoing;
	uint32_t tuples_full;
	uint32_t order_broken;
};

/* NULL with errno set on failure. */
struct tcpi_loader *tcpi_loader_open(void);
/* 0 or -errno. */
int tcpi_loader_load(struct tcpi_loader *l, const struct tcpi_loader_config *c);
/* The iter/tcp link (bpf_link_create, BPF_TRACE_ITER; detached by destroy): 0 or -errno. */
int tcpi_loader_attach(struct tcpi_loader *l);
int tcpi_loader_link_fd(const struct tcpi_loader *l);
int tcpi_loader_tuples_fd(const struct tcpi_loader *l);
uint32_t tcpi_loader_max_tuples(const struct tcpi_loader *l);
void tcpi_loader_begin(struct tcpi_loader *l, const struct tcpi_walk *w);
void tcpi_loader_totals(const struct tcpi_loader *l, struct tcpi_totals *t);
void tcpi_loader_destroy(struct tcpi_loader *l);

#ifdef __cplusplus
}
#endif

#endif /* SOCKDOCTOR_TCP_SOCKETS_LOADER_H */
