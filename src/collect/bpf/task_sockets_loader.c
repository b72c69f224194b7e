// SPDX-License-Identifier: GPL-2.0
/* The owner scan's light skeleton behind a C interface (see task_sockets_loader.h). */
#include <errno.h>

#include <bpf/skel_internal.h>

#include "task_sockets.lskel.h"
#include "task_sockets_loader.h"
#include "lskel_load.h"

struct taski_loader {
	struct task_sockets_lskel *skel;
};

struct taski_loader *taski_loader_open(void)
{
	struct taski_loader *l = calloc(1, sizeof(*l));

	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	l->skel = task_sockets_lskel__open();
	if (!l->skel) {
		free(l);
		if (!errno)
			errno = ENOMEM;
		return NULL;
	}
	return l;
}

int taski_loader_load(struct taski_loader *l, char *log_buf, uint32_t log_size)
{
	struct task_sockets_lskel *s = l->skel;
	int err;

	lskel_set_log(&s->ctx, log_buf, log_size);
	err = task_sockets_lskel__load(s); /* -errno */
	return lskel_result(err);
}

int taski_loader_attach(struct taski_loader *l)
{
	if (task_sockets_lskel__attach(l->skel) == 0)
		return 0;
	return errno ? -errno : -EINVAL; /* the bpf() syscall: -1 and errno */
}

int taski_loader_link_fd(const struct taski_loader *l)
{
	return l->skel->links.dump_task_file_fd;
}

void taski_loader_begin(struct taski_loader *l, uint32_t skip_tcp_states)
{
	struct task_sockets_lskel__bss *b = l->skel->bss;

	b->tasks_seen = 0;
	b->files_seen = 0;
	b->sockets_seen = 0;
	b->sockets_skipped = 0;
	b->skip_tcp_states = skip_tcp_states;
}

void taski_loader_totals(const struct taski_loader *l, struct taski_totals *t)
{
	const struct task_sockets_lskel__bss *b = l->skel->bss;

	t->tasks_seen = b->tasks_seen;
	t->files_seen = b->files_seen;
	t->sockets_seen = b->sockets_seen;
	t->sockets_skipped = b->sockets_skipped;
}

void taski_loader_destroy(struct taski_loader *l)
{
	if (!l)
		return;
	task_sockets_lskel__destroy(l->skel); /* detaches the link, closes the program and maps */
	free(l);
}
