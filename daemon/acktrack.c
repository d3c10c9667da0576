/*
 * acktrack.c: what the daemon may acknowledge to each publisher. For every publisher_id it
 * keeps through_sequence (every sequence up to it is durable or rejected) and, only while
 * sequences arrive out of order, a short sorted list of the ranges seen above it, so that a
 * gap holds the acknowledgement back while the events after the gap are still applied; once
 * the gap is filled, through_sequence jumps over everything already seen.
 *
 * The state is bounded. A publisher in order costs one small record and no list; the list
 * holds at most ACK_RANGES_MAX ranges (a sequence that would need more is forgotten, like one
 * beyond the window: its ack waits for the publisher's resend). Records are found in a
 * balanced tree (tsearch) by id, and at most t->max of them are kept between batches: the
 * least recently marked are dropped first. Nothing durable is lost with them: through_sequence
 * is persisted in the store's publisher record by every commit, and a publisher that comes
 * back (or is first seen after a restart) has its mark read from there. What is lost is the
 * list of ranges, exactly as at a restart: the publisher resends from through_sequence + 1,
 * which dedup turns into duplicates that move the mark again.
 */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static int
id_cmp(const void *a, const void *b)
{
	/* a record's id is its first member: a record and a bare id compare alike */
	return strcmp(a, b);
}

/* Returns the publisher's record, or NULL. */
static struct ackpub *
find(const struct acktrack *t, const char *id)
{
	void *node = tfind(id, &t->root, id_cmp);
	return node != NULL ? *(struct ackpub **)node : NULL;
}

static void
lru_unlink(struct acktrack *t, struct ackpub *p)
{
	*(p->prev != NULL ? &p->prev->next : &t->newest) = p->next;
	*(p->next != NULL ? &p->next->prev : &t->oldest) = p->prev;
	p->prev = p->next = NULL;
}

static void
lru_push(struct acktrack *t, struct ackpub *p)
{
	p->next = t->newest;
	*(t->newest != NULL ? &t->newest->prev : &t->oldest) = p;
	t->newest = p;
}

/* Reads the publisher's persisted mark; 0 if the store has none or there is no store. */
static int
stored_mark(const struct acktrack *t, const char *id, uint64_t *ret)
{
	struct zt_publisher rec;

	*ret = 0;
	if (t->store == NULL)
		return 0;
	int r = zt_store_publisher(t->store, id, &rec);
	if (r > 0)
		*ret = rec.through_sequence;
	return r < 0 ? r : 0;
}

/* Adds a record for a publisher not tracked, its mark read from the store.
 * @return 0, -ENOMEM or a store error. */
static int
add(struct acktrack *t, const char *id, struct ackpub **ret)
{
	struct ackpub *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	(void)snprintf(p->id, sizeof(p->id), "%s", id);
	int r = stored_mark(t, p->id, &p->through);
	void *node = r == 0 ? tsearch(p, &t->root, id_cmp) : NULL;
	if (node == NULL) {
		free(p);
		return r < 0 ? r : -ENOMEM;
	}
	lru_push(t, p);
	t->n++;
	*ret = p;
	return 0;
}

static void
drop(struct acktrack *t, struct ackpub *p)
{
	lru_unlink(t, p);
	(void)tdelete(p, &t->root, id_cmp);
	free(p->r);
	free(p);
	t->n--;
}

/*
 * Prepares an empty tracker: ranges cover `window` sequences above each mark (a sequence
 * further ahead is not remembered: its ack waits for the publisher's resend), and at most
 * ZT_ACK_PUBLISHERS publishers are kept between batches (t->max).
 * @return 0 or -EINVAL.
 */
int
acktrack_init(struct acktrack *t, uint32_t window)
{
	memset(t, 0, sizeof(*t));
	if (window == 0)
		return -EINVAL;
	t->bits = window;
	t->max = ZT_ACK_PUBLISHERS;
	return 0;
}

/*
 * Keeps as many records between batches as one batch of batch_max entries can name (and at
 * least ZT_ACK_PUBLISHERS): a working set of publishers that fits in one batch is never
 * re-read from the store, and the peak, the kept records plus one batch's new ones, stays
 * 2 x batch_max records. A lower value takes effect at the next acktrack_trim().
 */
void
acktrack_keep(struct acktrack *t, size_t batch_max)
{
	t->max = batch_max > ZT_ACK_PUBLISHERS ? batch_max : ZT_ACK_PUBLISHERS;
}

/* Frees every record. Idempotent. */
void
acktrack_done(struct acktrack *t)
{
	while (t->oldest != NULL)
		drop(t, t->oldest);
	memset(t, 0, sizeof(*t));
}

/*
 * Binds the tracker to the store whose publisher records hold the persisted marks (at
 * start, before the writer owns s). Marks are read when a publisher is first marked, so a
 * store with any number of publishers costs nothing here. @return 0.
 */
int
acktrack_load(struct acktrack *t, struct zt_store *s)
{
	t->store = s;
	return 0;
}

/* Index of the first range whose hi >= seq (p->nr if none): bisection. */
static size_t
range_at(const struct ackpub *p, uint64_t seq)
{
	size_t lo = 0, hi = p->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->r[mid].hi < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
range_remove(struct ackpub *p, size_t i)
{
	memmove(p->r + i, p->r + i + 1, (p->nr - i - 1) * sizeof(*p->r));
	if (--p->nr == 0) { /* back in order: a publisher in order keeps no list */
		free(p->r);
		p->r = NULL;
		p->rcap = 0;
	}
}

/* Inserts [seq, seq] at i. At ACK_RANGES_MAX the highest range is forgotten to make room,
 * or seq itself if it is above them all. Returns 0 or -ENOMEM. */
static int
range_insert(struct ackpub *p, size_t i, uint64_t seq)
{
	if (p->nr == ACK_RANGES_MAX) {
		if (i == p->nr)
			return 0;
		p->nr--;
	}
	if (p->nr == p->rcap) {
		uint16_t ncap = p->rcap ? (uint16_t)(p->rcap * 2) : 2;
		if (ncap > ACK_RANGES_MAX)
			ncap = ACK_RANGES_MAX;
		struct ackrange *nr = realloc(p->r, ncap * sizeof(*nr));
		if (nr == NULL)
			return -ENOMEM;
		p->r = nr;
		p->rcap = ncap;
	}
	memmove(p->r + i + 1, p->r + i, (p->nr - i) * sizeof(*p->r));
	p->r[i] = (struct ackrange){seq, seq};
	p->nr++;
	return 0;
}

/* Records seq > through + 1 as seen: joins the range it touches or starts one. */
static int
range_add(struct ackpub *p, uint64_t seq)
{
	size_t i = range_at(p, seq - 1); /* the first range that holds seq - 1 or lies above */

	if (i < p->nr && p->r[i].lo <= seq && seq <= p->r[i].hi)
		return 0;
	if (i < p->nr && p->r[i].hi + 1 == seq) {
		p->r[i].hi = seq;
		if (i + 1 < p->nr && p->r[i + 1].lo == seq + 1) {
			p->r[i].hi = p->r[i + 1].hi;
			range_remove(p, i + 1);
		}
		return 0;
	}
	if (i < p->nr && p->r[i].lo == seq + 1) {
		p->r[i].lo = seq;
		return 0;
	}
	return range_insert(p, i, seq);
}

/*
 * Forgets seq if it is in a range, splitting the range. Where the upper part cannot get a
 * range of its own (at the bound, or out of memory) it is forgotten too: forgetting a
 * sequence only makes its ack wait for the publisher's resend.
 */
static void
range_forget(struct ackpub *p, uint64_t seq)
{
	size_t i = range_at(p, seq);

	if (i == p->nr || p->r[i].lo > seq)
		return;
	struct ackrange *r = &p->r[i];
	uint64_t hi = r->hi;
	if (r->lo == hi) {
		range_remove(p, i);
	} else if (seq == r->lo) {
		r->lo++;
	} else {
		r->hi = seq - 1;
		if (seq == hi || (p->nr == ACK_RANGES_MAX && i + 1 == p->nr))
			return;
		if (range_insert(p, i + 1, seq + 1) == 0)
			p->r[i + 1].hi = hi;
		else
			p->nr = (uint16_t)(i + 1);
	}
}

/*
 * Records that `seq` of publisher `id` is in the batch about to be committed, and advances
 * the publisher's mark over every contiguous sequence seen.
 * @param[out] ret_through the mark after this sequence
 * @return 0, -ENOMEM or a store error (reading the mark of a publisher not tracked).
 * @note Call only for batches in commit order: the mark must never run ahead of a batch
 *     that has not been handed to the writer.
 */
int
acktrack_mark(struct acktrack *t, const char *id, uint64_t seq, uint64_t *ret_through)
{
	struct ackpub *p = find(t, id);
	int r = 0;

	if (p == NULL && (r = add(t, id, &p)) < 0)
		return r;
	lru_unlink(t, p);
	lru_push(t, p);
	if (seq == p->through + 1) {
		p->through = seq;
		if (p->nr > 0 && p->r[0].lo == seq + 1) {
			p->through = p->r[0].hi;
			range_remove(p, 0);
		}
	} else if (seq > p->through && seq - p->through <= t->bits) {
		r = range_add(p, seq);
	}
	*ret_through = p->through;
	return r;
}

/*
 * Drops the least recently marked publishers until at most t->max remain. Call only when
 * every batch marked so far has committed (the store then holds each dropped mark).
 */
void
acktrack_trim(struct acktrack *t)
{
	while (t->n > t->max && t->oldest != NULL) {
		drop(t, t->oldest);
		t->dropped++;
	}
}

/*
 * Sets through_in on every entry of b that carries a publisher and sequence, after
 * dropping the records beyond the bound (the writer is idle: every earlier batch is
 * committed). A batch with more publishers than the bound keeps them all until the next
 * one, so that its own acks are exact. Returns 0, -ENOMEM or a store error.
 */
int
acktrack_batch(struct acktrack *t, struct batch *b)
{
	acktrack_trim(t);
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
 * because its original is in the gap (reordered by a daemon restart). It is forgotten, so
 * the mark stops before it once the gap fills and the publisher's resend gets it judged
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
		if (p != NULL && e->ev.sequence > p->through)
			range_forget(p, e->ev.sequence);
	}
}
