/* C face of the state register's light skeleton (bpftool gen skeleton -L), whose generated code
 * compiles as C only. A light skeleton loads through a loader program that has the kernel do the
 * CO-RE relocations and find the attach targets in its own BTF, so this process never parses
 * /sys/kernel/btf/vmlinux (libbpf 1.1 holds it twice in the heap while a full skeleton loads:
 * +11 MB of peak RSS, docs/performance.md). */
#ifndef SOCKDOCTOR_STATE_REGISTER_LOADER_H
#define SOCKDOCTOR_STATE_REGISTER_LOADER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sr_loader;

/* What a full skeleton would set before its load: .rodata, .kconfig and map sizes. */
struct sr_loader_config {
	uint32_t stream_events;
	uint32_t tick_clock;
	uint32_t lazy_entries;
	uint32_t tw_from_close; /* see the .bpf.c; then only on_set_state is attached */
	uint32_t filter_netns;
	uint16_t filter_port;
	uint64_t wakeup_bytes;
	uint32_t sockets_sets; /* a power of two: sets of SR_WAYS entries */
	uint32_t set_bits;     /* its log2 */
	uint32_t events_bytes;
	uint32_t listeners_entries;
	uint32_t fw2_entries; /* FIN_WAIT2 mini-sockets the sweep watches (1: no timer programs) */
	int32_t config_hz; /* CONFIG_HZ of the running kernel; 0 = unknown (no tick clock) */
	/* The verifier's log of every program the loader loads (SOCKDOCTOR_BPF_DEBUG=1); NULL: none. */
	char *log_buf;
	uint32_t log_size;
};

enum sr_loader_prog {
	SR_PROG_SET_STATE,
	SR_PROG_DESTROY,
	SR_PROG_TIMER_START,
	SR_PROG_TIMER_CANCEL,
	SR_PROG_TIMER_EXPIRE,
	SR_PROG_CALIBRATE,
	SR_PROG_FIND_TW_TIMER,
};

enum sr_loader_map {
	SR_MAP_SOCKETS,
	SR_MAP_EVENTS,
	SR_MAP_COUNTERS,
	SR_MAP_INFO,
};

/* NULL with errno set on failure. */
struct sr_loader *sr_loader_open(void);
/* 0, or -errno with *errstr (static text) naming the step that failed. */
int sr_loader_load(struct sr_loader *l, const struct sr_loader_config *c, const char **errstr);
int sr_loader_prog_fd(const struct sr_loader *l, enum sr_loader_prog p);
int sr_loader_map_fd(const struct sr_loader *l, enum sr_loader_map m);
/* Attaches a tracing program (detached by sr_loader_destroy): 0 or -errno. */
int sr_loader_attach(struct sr_loader *l, enum sr_loader_prog p);
/* .bss tw_timer_fn: written by find_tw_timer(), or by user space before the timer programs. */
uint64_t sr_loader_tw_timer_fn(const struct sr_loader *l);
void sr_loader_set_tw_timer_fn(struct sr_loader *l, uint64_t fn);
void sr_loader_destroy(struct sr_loader *l);

#ifdef __cplusplus
}
#endif

#endif /* SOCKDOCTOR_STATE_REGISTER_LOADER_H */
