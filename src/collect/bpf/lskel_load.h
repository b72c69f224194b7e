/* SPDX-License-Identifier: GPL-2.0 */
/* What every light-skeleton wrapper (*_loader.c) does around its generated __load(): hand the
 * kernel a buffer for the verifier's log, and turn the result into 0 or -errno. Include after
 * <bpf/skel_internal.h>. */
#ifndef SOCKDOCTOR_LSKEL_LOAD_H
#define SOCKDOCTOR_LSKEL_LOAD_H

#include <errno.h>
#include <stdint.h>

/* The log of every program the loader program loads; a NULL or empty buffer: no log. */
static inline void lskel_set_log(struct bpf_loader_ctx *ctx, char *buf, uint32_t size)
{
	if (!buf || !size)
		return;
	ctx->log_level = 1;
	ctx->log_size = size;
	ctx->log_buf = (long)buf;
}

/* __load() returns -errno, or a positive value from the loader program: a failure too. */
static inline int lskel_result(int err)
{
	return err < 0 ? err : (err ? -EINVAL : 0);
}

#endif
