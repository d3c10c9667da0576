/*
 * acktrack.c: what the daemon may acknowledge to each publisher. For every publisher_id it
 * keeps through_sequence (every sequence up to it is durable or rejected) and a ring bitmap
 * of the sequences seen above it, so that a gap holds the acknowledgement back while the
 * events after the gap are still applied; once the gap is filled, through_sequence jumps
 * over everything already seen. Only through_sequence is persisted (in the store's publisher
 * record): after a restart the bitmap is empty and the publisher resends from
 * through_sequence + 1, which dedup turns into duplicates that move the mark again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#define AT_MIN_CAP 16

/* Returns the publisher's tracker, or NULL. */
static struct ackpub *
find(struct acktrack *t, const char *id)
{
	if (t->last < t->n && strcmp(t->pubs[t->last].id, id) == 0)
		return &t->pubs[t->last];
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->pubs[i].id, id) == 0) {
			t->last = i;
			return &t->pubs[i];
		}
	return NULL;
}

/* Adds a publisher with a known through_sequence. Returns it, or NULL on ENOMEM. */
static struct ackpub *
add(struct acktrack *t, const char *id, uint64_t through)
{
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : AT_MIN_CAP;
		struct ackpub *np = realloc(t->pubs, ncap * sizeof(*np));
		if (np == NULL)
			return NULL;
		t->pubs = np;
		t->cap = ncap;
	}
	struct ackpub *p = &t->pubs[t->n];
	memset(p, 0, sizeof(*p));
	p->seen = calloc((t->bits + 63) / 64, sizeof(uint64_t));
	if (p->seen == NULL)
		return NULL;
	(void)snprintf(p->id, sizeof(p->id), "%s", id);
	p->through = through;
	t->last = t->n++;
	return p;
}

/*
 * Prepares an empty tracker whose bitmaps cover `window` sequences above each mark (a
 * sequence further ahead is not remembered: its ack waits for the publisher's resend).
 * @return 0 or -EINVAL.
 */
int
acktrack_init(struct acktrack *t, uint32_t window)
{
	memset(t, 0, sizeof(*t));
	if (window == 0)
		return -EINVAL;
	t->bits = window;
	return 0;
}

/* Frees every tracker. Idempotent. */
void
acktrack_done(struct acktrack *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->pubs[i].seen);
	free(t->pubs);
	memset(t, 0, sizeof(*t));
}

static int
load_one(const struct zt_publisher *p, void *arg)
{
	return add(arg, p->id, p->through_sequence) == NULL ? -ENOMEM : 0;
}

/*
 * Loads every publisher's persisted through_sequence (at start, before the writer owns s).
 * @return 0; -ENOMEM; a store error.
 */
int
acktrack_load(struct acktrack *t, struct zt_store *s)
{
	return zt_store_publishers(s, load_one, t);
}

static bool
bit_get(const struct ackpub *p, uint32_t bit)
{
	return (p->seen[bit / 64] >> (bit % 64)) & 1u;
}

static void
bit_set(struct ackpub *p, uint32_t bit, bool on)
{
	uint64_t m = (uint64_t)1 << (bit % 64);
	p->seen[bit / 64] = on ? p->seen[bit / 64] | m : p->seen[bit / 64] & ~m;
}

/*
 * Records that `seq` of publisher `id` is in the batch about to be committed, and advances
 * the publisher's mark over every contiguous sequence seen.
 * @param[out] ret_through the mark after this sequence
 * @return 0 or -ENOMEM.
 * @note Call only for batches in commit order: the mark must never run ahead of a batch
 *     that has not been handed to the writer.
 */
int
acktrack_mark(struct acktrack *t, const char *id, uint64_t seq, uint64_t *ret_through)
{
	struct ackpub *p = find(t, id);
	if (p == NULL && (p = add(t, id, 0)) == NULL)
		return -ENOMEM;
	if (seq > p->through && seq - p->through <= t->bits) {
		bit_set(p, (uint32_t)(seq % t->bits), true);
		for (;;) {
			uint32_t next = (uint32_t)((p->through + 1) % t->bits);
			if (!bit_get(p, next))
				break;
			bit_set(p, next, false);
			p->through++;
		}
	}
	*ret_through = p->through;
	return 0;
}

/*
 * Sets through_in on every entry of b that carries a publisher and sequence. Returns 0 or
 * -ENOMEM.
 */
int
acktrack_batch(struct acktrack *t, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct zt_entry *e = &b->e[i];
		e->through_in = 0;
		if (!e->has_seq)
			continue;
		int r = acktrack_mark(t, e->ev.publisher, e->ev.sequence, &e->through_in);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * After the commit of b: a reversal that arrived after a gap may have been rejected only
 * because its original is in the gap (reordered by a daemon restart). Its bit is cleared,
 * so the mark stops before it once the gap fills and the publisher's resend gets it judged
 * again, after its original. Call before the next batch is marked.
 */
void
acktrack_committed(struct acktrack *t, const struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct zt_entry *e = &b->e[i];
		if (!e->has_seq || e->outcome != ZT_OUT_REJECTED ||
		    e->reason != ZT_REJECT_REVERSAL_UNKNOWN)
			continue;
		struct ackpub *p = find(t, e->ev.publisher);
		uint64_t seq = e->ev.sequence;
		if (p != NULL && seq > p->through && seq - p->through <= t->bits)
			bit_set(p, (uint32_t)(seq % t->bits), false);
	}
}
