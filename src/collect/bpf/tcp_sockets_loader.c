// SPDX-License-Identifier: GPL-2.0
/* The socket iterator's light skeleton behind a C interface (see tcp_sockets_loader.h). */
#include <errno.h>
#include <string.h>

#include <bpf/skel_internal.h>

#include "tcp_sockets.h"
#include "tcp_sockets.lskel.h"
#include "tcp_sockets_loader.h"
#include "lskel_load.h"

_Static_assert(sizeof(((struct tcp_sockets_lskel__bss *)0)->reserved_ports) ==
		       TCPI_PORT_WORDS * sizeof(uint64_t),
	       "tcp_sockets.bpf.c's port bitmap changed");
_Static_assert(sizeof(((struct tcp_sockets_lskel__bss *)0)->aggregated) ==
		       TCPI_STATES * sizeof(uint64_t),
	       "tcp_sockets.bpf.c's aggregated counters changed");

struct tcpi_loader {
	struct tcp_sockets_lskel *skel;
	uint32_t max_tuples;
};

struct tcpi_loader *tcpi_loader_open(void)
{
	struct tcpi_loader *l = calloc(1, sizeof(*l));

	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	l->skel = tcp_sockets_lskel__open();
	if (!l->skel) {
		free(l);
		if (!errno)
			errno = ENOMEM;
		return NULL;
	}
	return l;
}

int tcpi_loader_load(struct tcpi_loader *l, const struct tcpi_loader_config *c)
{
	struct tcp_sockets_lskel *s = l->skel;
	int err;

	/* A non-zero max_entries replaces the one in the object (libbpf's gen_loader). */
	l->max_tuples = c->max_tuples ? c->max_tuples : TCP_SOCKETS_MAX_TUPLES;
	s->maps.port_tuples.max_entries = l->max_tuples;
	lskel_set_log(&s->ctx, c->log_buf, c->log_size);
	err = tcp_sockets_lskel__load(s); /* -errno */
	return lskel_result(err);
}

int tcpi_loader_attach(struct tcpi_loader *l)
{
	if (tcp_sockets_lskel__attach(l->skel) == 0)
		return 0;
	return errno ? -errno : -EINVAL; /* the bpf() syscall: -1 and errno */
}

int tcpi_loader_link_fd(const struct tcpi_loader *l)
{
	return l->skel->links.dump_tcp_fd;
}

int tcpi_loader_tuples_fd(const struct tcpi_loader *l)
{
	return l->skel->maps.port_tuples.map_fd;
}

uint32_t tcpi_loader_max_tuples(const struct tcpi_loader *l)
{
	return l->max_tuples;
}

void tcpi_loader_begin(struct tcpi_loader *l, const struct tcpi_walk *w)
{
	struct tcp_sockets_lskel__bss *b = l->skel->bss;

	b->records_seen = 0;
	b->state_mask = w->state_mask;
	b->families = w->families;
	b->summary = w->summary;
	b->aggregate_mask = w->aggregate_mask;
	b->port_low = w->port_low;
	b->port_high = w->port_high;
	if (w->reserved_ports)
		memcpy(b->reserved_ports, w->reserved_ports, sizeof(b->reserved_ports));
	else
		memset(b->reserved_ports, 0, sizeof(b->reserved_ports));
	memset(b->listening_ports, 0, sizeof(b->listening_ports));
	memset(b->aggregated, 0, sizeof(b->aggregated));
	b->tw_incoming = b->tw_outgoing = 0;
	b->tuples_full = b->order_broken = b->past_listeners = 0;
}

void tcpi_loader_totals(const struct tcpi_loader *l, struct tcpi_totals *t)
{
	const struct tcp_sockets_lskel__bss *b = l->skel->bss;

	t->records_seen = b->records_seen;
	memcpy(t->aggregated, b->aggregated, sizeof(t->aggregated));
	t->tw_incoming = b->tw_incoming;
	t->tw_outgoing = b->tw_outgoing;
	t->tuples_full = b->tuples_full;
	t->order_broken = b->order_broken;
}

void tcpi_loader_destroy(struct tcpi_loader *l)
{
	if (!l)
		return;
	tcp_sockets_lskel__destroy(l->skel); /* detaches the link, closes the program and maps */
	free(l);
}
