// SPDX-License-Identifier: GPL-2.0
/* The state register's socket table (state_register.h, docs/tracing.md): a cookie's way, its
 * try-lock, insert with replacement, delete. Part of state_register.bpf.c, which includes it
 * after its maps, clocks and COUNT(). */
#ifndef SOCKDOCTOR_STATE_REGISTER_TABLE_BPF_H
#define SOCKDOCTOR_STATE_REGISTER_TABLE_BPF_H

#define TIME_WAIT_NS (60 * NSEC_PER_SEC) /* TCP_TIMEWAIT_LEN */

static __always_inline struct sr_set *set_of(__u64 cookie)
{
	__u32 i = sr_set_index(cookie, set_bits);

	return bpf_map_lookup_elem(&sockets, &i);
}

/* The way holding `cookie`, or NULL. Every event of one socket runs under that socket's lock,
 * so its own entry changes under it only if another socket's insert replaces it. */
static __always_inline struct sr_way *find_way(__u64 cookie)
{
	struct sr_set *set = set_of(cookie);
	int i;

	if (!set)
		return 0;
#pragma unroll
	for (i = 0; i < SR_WAYS; i++)
		if (set->way[i].cookie == cookie)
			return &set->way[i];
	return 0;
}

/* Takes the way for writing if it still holds `cookie` (seq odd until way_unlock()). */
static __always_inline bool way_lock(struct sr_way *w, __u64 cookie)
{
	__u64 seq = w->seq;

	if ((seq & 1) || __sync_val_compare_and_swap(&w->seq, seq, seq + 1) != seq)
		return false;
	if (w->cookie == cookie)
		return true;
	__sync_fetch_and_add(&w->seq, 1);
	return false;
}

static __always_inline void way_unlock(struct sr_way *w)
{
	__sync_fetch_and_add(&w->seq, 1); /* a full barrier: the entry is written before */
}

/* Which way a new entry replaces, lowest first: a free one; a TIME_WAIT that must be over
 * (TIME_WAIT lasts TCP_TIMEWAIT_LEN unless a late FIN restarts it); another mini-socket, which
 * ends by itself; then the full socket whose state began longest ago. A stuck CLOSE_WAIT thus
 * goes last, as in an LRU. */
static __always_inline __u64 replace_score(const struct sr_way *w, __u64 now)
{
	const struct sr_entry *e = &w->entry;
	__u64 rank;

	if (!w->cookie)
		return 0;
	if (!(e->flags & SR_F_MINISOCK))
		rank = 3;
	else if (e->state == TCP_TIME_WAIT && e->entered_ns + TIME_WAIT_NS + NSEC_PER_SEC < now)
		rank = 1;
	else
		rank = 2;
	return (rank << 61) | ((e->entered_ns >> 3) & ((1ULL << 61) - 1));
}

/* Stores `n` for `cookie` unless the cookie has an entry: 0, -EEXIST, or -EBUSY when the way it
 * would take is being written by another CPU (counted as an insert failure by the caller). */
static __always_inline long insert_entry(__u64 cookie, const struct sr_entry *n, __u64 now)
{
	struct sr_set *set = set_of(cookie);
	struct sr_way *victim = 0;
	__u64 best = ~0ULL, old;
	int i;

	if (!set)
		return -EBUSY;
#pragma unroll
	for (i = 0; i < SR_WAYS; i++) {
		struct sr_way *w = &set->way[i];
		__u64 score;

		if (w->cookie == cookie)
			return -EEXIST;
		score = replace_score(w, now);
		if (score < best) {
			best = score;
			victim = w;
		}
	}
	if (!victim)
		return -EBUSY;
	old = victim->cookie;
	if (!way_lock(victim, old))
		return -EBUSY;
	if (old && best >> 61 == 1)
		COUNT(reclaimed);
	else if (old)
		COUNT(evictions);
	victim->cookie = cookie;
	victim->entry = *n;
	way_unlock(victim);
	return 0;
}

/* Frees the way of `cookie`: 0, or -ENOENT if it has none. */
static __always_inline long delete_entry(__u64 cookie)
{
	struct sr_way *w = find_way(cookie);

	if (!w || !way_lock(w, cookie))
		return -ENOENT;
	w->cookie = 0;
	way_unlock(w);
	return 0;
}

#endif /* SOCKDOCTOR_STATE_REGISTER_TABLE_BPF_H */
