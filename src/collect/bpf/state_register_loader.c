// SPDX-License-Identifier: GPL-2.0
/* The state register's light skeleton behind a C interface (see state_register_loader.h). */
#include <errno.h>

#include <bpf/skel_internal.h>

#include "state_register.h"
#include "state_register.lskel.h"
#include "state_register_loader.h"
#include "lskel_load.h"

struct sr_loader {
	struct state_register_lskel *skel;
};

struct sr_loader *sr_loader_open(void)
{
	struct sr_loader *l = calloc(1, sizeof(*l));

	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	l->skel = state_register_lskel__open();
	if (!l->skel) {
		free(l);
		if (!errno)
			errno = ENOMEM;
		return NULL;
	}
	return l;
}

int sr_loader_load(struct sr_loader *l, const struct sr_loader_config *c, const char **errstr)
{
	struct state_register_lskel *s = l->skel;
	int err;

	s->rodata->stream_events = c->stream_events;
	s->rodata->tick_clock = c->tick_clock;
	s->rodata->lazy_entries = c->lazy_entries;
	s->rodata->tw_from_close = c->tw_from_close;
	s->rodata->set_bits = c->set_bits;
	s->rodata->filter_netns = c->filter_netns;
	s->rodata->filter_port = c->filter_port;
	s->rodata->wakeup_bytes = c->wakeup_bytes;
	/* bpftool baked the build machine's value in; the running kernel's is the one that counts. */
	s->kconfig->CONFIG_HZ = c->config_hz;
	/* A non-zero max_entries replaces the one in the object (libbpf's gen_loader). */
	s->maps.sockets.max_entries = c->sockets_sets;
	s->maps.events.max_entries = c->events_bytes;
	s->maps.listeners.max_entries = c->listeners_entries;
	s->maps.fw2_minisocks.max_entries = c->fw2_entries;
	lskel_set_log(&s->ctx, c->log_buf, c->log_size);
	err = state_register_lskel__load(s); /* -errno */
	if (err && errstr)
		*errstr = "the light skeleton's loader program failed";
	return lskel_result(err);
}

int sr_loader_prog_fd(const struct sr_loader *l, enum sr_loader_prog p)
{
	const struct state_register_lskel *s = l->skel;

	switch (p) {
	case SR_PROG_SET_STATE: return s->progs.on_set_state.prog_fd;
	case SR_PROG_DESTROY: return s->progs.on_destroy.prog_fd;
	case SR_PROG_TIMER_START: return s->progs.on_timer_start.prog_fd;
	case SR_PROG_TIMER_CANCEL: return s->progs.on_timer_cancel.prog_fd;
	case SR_PROG_TIMER_EXPIRE: return s->progs.on_timer_expire.prog_fd;
	case SR_PROG_CALIBRATE: return s->progs.calibrate.prog_fd;
	case SR_PROG_FIND_TW_TIMER: return s->progs.find_tw_timer.prog_fd;
	}
	return -1;
}

int sr_loader_map_fd(const struct sr_loader *l, enum sr_loader_map m)
{
	const struct state_register_lskel *s = l->skel;

	switch (m) {
	case SR_MAP_SOCKETS: return s->maps.sockets.map_fd;
	case SR_MAP_EVENTS: return s->maps.events.map_fd;
	case SR_MAP_COUNTERS: return s->maps.counters.map_fd;
	case SR_MAP_INFO: return s->maps.info.map_fd;
	}
	return -1;
}

int sr_loader_attach(struct sr_loader *l, enum sr_loader_prog p)
{
	struct state_register_lskel *s = l->skel;
	int rc;

	switch (p) {
	case SR_PROG_SET_STATE: rc = state_register_lskel__on_set_state__attach(s); break;
	case SR_PROG_DESTROY: rc = state_register_lskel__on_destroy__attach(s); break;
	case SR_PROG_TIMER_START: rc = state_register_lskel__on_timer_start__attach(s); break;
	case SR_PROG_TIMER_CANCEL: rc = state_register_lskel__on_timer_cancel__attach(s); break;
	case SR_PROG_TIMER_EXPIRE: rc = state_register_lskel__on_timer_expire__attach(s); break;
	default: return -EINVAL; /* the syscall programs are run, not attached */
	}
	if (rc > 0)
		return 0;
	return rc < 0 && errno ? -errno : -EINVAL; /* the bpf() syscall: -1 and errno */
}

uint64_t sr_loader_tw_timer_fn(const struct sr_loader *l)
{
	return l->skel->bss->tw_timer_fn;
}

void sr_loader_set_tw_timer_fn(struct sr_loader *l, uint64_t fn)
{
	l->skel->bss->tw_timer_fn = fn;
}

void sr_loader_destroy(struct sr_loader *l)
{
	if (!l)
		return;
	state_register_lskel__destroy(l->skel); /* detaches every program, closes every map */
	free(l);
}
