/*
 * batch.c: the batch buffers of group commit and the rule that decides when a batch goes to
 * the writer. Each entry keeps a copy of its payload (truncated to ZT_REJECT_KEEP) in a
 * per-batch arena, because ZeroMQ messages are closed as soon as they are decoded and the
 * store may still reject an event (time window, reversal) and record its bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

#define ARENA_INITIAL (64u * 1024)

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	(void)clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds of a clock that never jumps, for batch ages. */
int64_t
now_monotonic_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* Unix milliseconds, for the store's future-time bound. */
/* Monotonic microseconds, for commit latency. */
int64_t
now_monotonic_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
now_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/*
 * Entries one batch buffer holds: what arrives while a commit runs joins the next batch, up
 * to backlog_events (never fewer than max_events). With random ids the pages a commit writes
 * per event fall as a batch covers more of the dedup tree, so under a backlog the batch
 * grows toward this; when the daemon keeps up, batches stay at what max_ms gathers. At the
 * cap the main thread stops reading and ZeroMQ's queues and TCP hold the rest.
 */
size_t
batch_cap(const struct zt_config *c)
{
	return c->batch_backlog > c->batch_max_events ? c->batch_backlog : c->batch_max_events;
}

/*
 * Moves b's entries into one new block of cap slots. The store reads the entries as a dense
 * struct zt_entry array, so a slot's daemon-side data (struct batch_tag) cannot sit inside
 * it; both arrays live in one allocation made here and only here, so that no per-entry
 * array can be grown without the others. @return 0 or -ENOMEM (b untouched and usable).
 */
static int
batch_resize(struct batch *b, size_t cap)
{
	if (cap > (SIZE_MAX / 2) / (sizeof(struct zt_entry) + sizeof(struct batch_tag)))
		return -ENOMEM;
	_Static_assert(sizeof(struct zt_entry) % _Alignof(struct batch_tag) == 0,
	    "the tags follow the entries in one block");
	struct zt_entry *e = calloc(cap, sizeof(*e) + sizeof(struct batch_tag));
	if (e == NULL)
		return -ENOMEM;
	struct batch_tag *tag = (struct batch_tag *)(void *)(e + cap);
	if (b->n > 0) {
		memcpy(e, b->e, b->n * sizeof(*e));
		memcpy(tag, b->tag, b->n * sizeof(*tag));
	}
	free(b->e);
	b->e = e;
	b->tag = tag;
	b->cap = cap;
	return 0;
}

/* Allocates a batch of cap entries. Returns 0 or -ENOMEM (b is then safe to batch_done()). */
int
batch_init(struct batch *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->arena = malloc(ARENA_INITIAL);
	if (b->arena == NULL || batch_resize(b, cap) < 0)
		return -ENOMEM;
	b->arena_cap = ARENA_INITIAL;
	return 0;
}

/*
 * Makes room for at least cap entries (a reload that raises max_events); the entries
 * already in b stay. @return 0 or -ENOMEM (b unchanged and still usable).
 */
int
batch_grow(struct batch *b, size_t cap)
{
	return cap <= b->cap ? 0 : batch_resize(b, cap);
}

/* Frees the contents of b and zeroes it. Idempotent. */
void
batch_done(struct batch *b)
{
	free(b->e); /* b->tag lives in the same block */
	free(b->arena);
	memset(b, 0, sizeof(*b));
}

/* Empties b for refilling; keeps its memory. */
void
batch_clear(struct batch *b)
{
	b->n = 0;
	b->arena_used = 0;
	b->backlog = false;
	b->first_ms = 0;
	b->rc = 0;
	memset(&b->res, 0, sizeof(b->res));
}

/*
 * Appends an entry for a message whose payload is payload/len (copied, truncated), received
 * from `peer` (0: the SUB socket, else router peer slot + 1).
 * @return the entry to fill, or NULL if the batch is full or the arena cannot grow (the
 *     caller then stops reading until the writer has taken a batch).
 */
struct zt_entry *
batch_next(struct batch *b, const void *payload, size_t len, uint32_t peer)
{
	size_t keep = len < ZT_REJECT_KEEP ? len : ZT_REJECT_KEEP;

	if (b->n == b->cap)
		return NULL;
	if (b->arena_used + keep > b->arena_cap) {
		size_t ncap = b->arena_cap * 2;
		uint8_t *na = realloc(b->arena, ncap);
		if (na == NULL)
			return NULL;
		b->arena = na;
		b->arena_cap = ncap;
	}
	if (keep > 0)
		memcpy(b->arena + b->arena_used, payload, keep);
	struct zt_entry *e = &b->e[b->n];
	memset(e, 0, sizeof(*e));
	/* raw_len is the original length (the rejects DB shows it); raw holds the kept part */
	e->raw_len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	b->tag[b->n] = (struct batch_tag){.raw_off = (uint32_t)b->arena_used, .peer = peer};
	b->arena_used += keep;
	if (b->n == 0)
		b->first_ms = now_monotonic_ms();
	b->n++;
	return e;
}

/* Points every entry at its payload copy: the arena no longer moves once sealed. */
void
batch_seal(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->e[i].raw = b->e[i].raw_len > 0 ? b->arena + b->tag[i].raw_off : NULL;
}

/*
 * Decides, for an idle writer, whether the batch goes now: it is big enough, its first
 * message has waited max_ms, or it filled up while the previous commit ran (an fsync costs
 * the same for one event as for ten thousand, so a backlog is taken whole).
 */
bool
batch_due(const struct batch *b, int64_t now_ms, uint32_t max_events, uint32_t max_ms)
{
	if (b->n == 0)
		return false;
	return b->backlog || b->n >= max_events || now_ms - b->first_ms >= (int64_t)max_ms;
}

/* Returns the poll timeout until the batch is due by age, or -1 if it is empty. */
int
batch_wait_ms(const struct batch *b, int64_t now_ms, uint32_t max_ms)
{
	if (b->n == 0)
		return -1;
	int64_t left = b->first_ms + (int64_t)max_ms - now_ms;
	return left < 0 ? 0 : (int)left;
}
