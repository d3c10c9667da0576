/*
 * sse.c: the bounded history of recent totals updates behind GET /api/stream. The main
 * thread appends one record per TotalsUpdate it publishes (what the feed sends) under a
 * short mutex and never waits for a reader; the HTTP threads copy records out from their
 * own cursor. A reader that falls a whole ring behind has lost history: its cursor is
 * refused (-EPIPE) and the browser reconnects, to resume or to take a fresh snapshot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

struct sse {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled when a commit's records are complete, or at stop */
	struct sse_rec *rec;
	size_t cap;            /* records kept; record i lives in rec[i % cap] */
	uint64_t head;         /* records ever appended */
	uint64_t done_head;    /* records of complete commits: readers stop there */
	uint64_t done_seq;     /* feed_seq of the last complete commit */
	uint64_t lost_through; /* highest feed_seq of a record no longer kept */
	bool stopping;
	/* main thread only: the block being gathered, and its position in the commit */
	struct sse_rec stage;
	bool staged;
	uint32_t index;
};

/*
 * Creates the history for `cap` records (at least 2).
 * @param[in] feed_seq the store's at start: nothing before it can be resumed
 * @return 0 or -ENOMEM.
 */
int
sse_new(size_t cap, uint64_t feed_seq, struct sse **ret)
{
	struct sse *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (s == NULL)
		return -ENOMEM;
	s->cap = cap < 2 ? 2 : cap;
	s->rec = calloc(s->cap, sizeof(*s->rec));
	s->done_seq = s->lost_through = feed_seq;
	/* CLOCK_MONOTONIC: a wall clock step must not stretch or cut a reader's wait */
	if (s->rec == NULL || pthread_condattr_init(&ca) != 0) {
		free(s->rec);
		free(s);
		return -ENOMEM;
	}
	(void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int r = pthread_cond_init(&s->cv, &ca);
	(void)pthread_condattr_destroy(&ca);
	if (r != 0 || pthread_mutex_init(&s->mu, NULL) != 0) {
		if (r == 0)
			(void)pthread_cond_destroy(&s->cv);
		free(s->rec);
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

/* Frees the history. Every reader must be gone (sse_stop() then the HTTP server stopped). */
struct sse *
sse_free(struct sse *s)
{
	if (s == NULL)
		return NULL;
	(void)pthread_cond_destroy(&s->cv);
	(void)pthread_mutex_destroy(&s->mu);
	free(s->rec);
	free(s);
	return NULL;
}

/* Wakes every reader for good: their next sse_read() returns -ESHUTDOWN. */
void
sse_stop(struct sse *s)
{
	if (s == NULL)
		return;
	(void)pthread_mutex_lock(&s->mu);
	s->stopping = true;
	(void)pthread_cond_broadcast(&s->cv);
	(void)pthread_mutex_unlock(&s->mu);
}

/* Appends the staged record (main thread). */
static void
flush_stage(struct sse *s)
{
	if (!s->staged)
		return;
	(void)pthread_mutex_lock(&s->mu);
	struct sse_rec *slot = &s->rec[s->head % s->cap];
	if (s->head >= s->cap && slot->feed_seq > s->lost_through)
		s->lost_through = slot->feed_seq;
	*slot = s->stage;
	s->head++;
	(void)pthread_mutex_unlock(&s->mu);
	s->staged = false;
}

/*
 * Records one total a commit wrote (main thread, in the feed's key order, so that the
 * totals of one block come together). Only the all-modes column is kept: the stream shows
 * import, export and total; per-mode figures are a GET /api/totals away.
 */
void
sse_push(struct sse *s, uint64_t feed_seq, const struct zt_tkey *k, const struct zt_totals *t)
{
	if (s == NULL || k->mode != ZT_MODE_ALL || k->direction >= ZT_DIR__COUNT)
		return;
	struct zt_tkey *g = &s->stage.key;
	if (s->staged &&
	    (g->level != k->level || g->code != k->code || g->gran != k->gran ||
	        g->bucket != k->bucket || s->stage.feed_seq != feed_seq))
		flush_stage(s);
	if (!s->staged) {
		s->index = s->stage.feed_seq == feed_seq ? s->index + 1 : 1;
		s->stage = (struct sse_rec){.feed_seq = feed_seq, .index = s->index, .key = *k};
		s->staged = true;
	}
	s->stage.dirs |= (uint8_t)(1u << k->direction);
	s->stage.t[k->direction] = *t;
}

/* Marks commit feed_seq complete (main thread): readers may now send all its records. */
void
sse_commit(struct sse *s, uint64_t feed_seq)
{
	if (s == NULL)
		return;
	flush_stage(s);
	(void)pthread_mutex_lock(&s->mu);
	if (feed_seq > s->done_seq)
		s->done_seq = feed_seq;
	s->done_head = s->head;
	(void)pthread_cond_broadcast(&s->cv);
	(void)pthread_mutex_unlock(&s->mu);
}

/* Index of the oldest record still kept. Called with mu held. */
static uint64_t
oldest(const struct sse *s)
{
	return s->head > s->cap ? s->head - s->cap : 0;
}

/* First kept record after (seq, index) in stream order; done_head if none. mu held. */
static uint64_t
find_after(const struct sse *s, uint64_t seq, uint32_t index)
{
	uint64_t lo = oldest(s), hi = s->done_head;

	while (lo < hi) { /* records are in (feed_seq, index) order: bisect */
		uint64_t mid = lo + (hi - lo) / 2;
		const struct sse_rec *r = &s->rec[mid % s->cap];
		if (r->feed_seq < seq || (r->feed_seq == seq && r->index <= index))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Finds where a reader resumes after the event it last received: id "N" (the last update
 * of commit N, or a snapshot at N) or "N.K" (the K-th update of commit N, not its last).
 * @param[out] ret_pos the cursor for sse_read(), set only on success
 * @return 0; -EINVAL (not such an id); -ESTALE (the history it needs is gone, or the id is
 *     from the future: another store, another daemon): take a snapshot instead.
 */
int
sse_resume(struct sse *s, const char *last_id, uint64_t *ret_pos)
{
	char *end;
	uint32_t index = UINT32_MAX; /* "N": every update of N was received */

	if (last_id == NULL || *last_id < '0' || *last_id > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long seq = strtoull(last_id, &end, 10);
	if (errno != 0)
		return -EINVAL;
	if (*end == '.') {
		unsigned long k = strtoul(end + 1, &end, 10);
		if (errno != 0 || k == 0 || k >= UINT32_MAX)
			return -EINVAL;
		index = (uint32_t)k;
	}
	if (*end != '\0')
		return -EINVAL;
	(void)pthread_mutex_lock(&s->mu);
	/* a partly received commit needs all of it kept; a whole one, everything after it */
	bool ok = seq <= s->done_seq &&
	    (index == UINT32_MAX ? seq >= s->lost_through : seq > s->lost_through);
	if (ok)
		*ret_pos = find_after(s, seq, index);
	(void)pthread_mutex_unlock(&s->mu);
	return ok ? 0 : -ESTALE;
}

/*
 * The cursor of a reader whose snapshot reflects commit feed_seq: the first record after it.
 * Records of later-published commits up to feed_seq still arrive; the reader skips those.
 * @return 0; -ESTALE (records after feed_seq are already gone: snapshot again).
 */
int
sse_after_snapshot(struct sse *s, uint64_t feed_seq, uint64_t *ret_pos)
{
	(void)pthread_mutex_lock(&s->mu);
	bool ok = feed_seq >= s->lost_through;
	if (ok)
		*ret_pos = find_after(s, feed_seq, UINT32_MAX);
	(void)pthread_mutex_unlock(&s->mu);
	return ok ? 0 : -ESTALE;
}

/* Adds ms to a CLOCK_MONOTONIC time. */
static struct timespec
deadline_in(int ms)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/*
 * Copies up to max records from *pos on (HTTP thread), waiting up to wait_ms for the next
 * complete commit when there is none; advances *pos. Each copy's `last` says whether it is
 * the final update of its commit.
 * @return the number copied (0: nothing within wait_ms); -EPIPE (the reader fell a whole
 *     history behind: it must reconnect); -ESHUTDOWN (the daemon is stopping).
 */
int
sse_read(struct sse *s, uint64_t *pos, struct sse_rec *out, size_t max, int wait_ms)
{
	struct timespec until = deadline_in(wait_ms);
	int n = 0, rc = 0;

	(void)pthread_mutex_lock(&s->mu);
	while (!s->stopping && *pos >= s->done_head && rc == 0)
		rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
	if (s->stopping)
		n = -ESHUTDOWN;
	else if (*pos < oldest(s))
		n = -EPIPE;
	for (; n >= 0 && (size_t)n < max && *pos < s->done_head; n++, (*pos)++) {
		out[n] = s->rec[*pos % s->cap];
		out[n].last = *pos + 1 == s->done_head ||
		    s->rec[(*pos + 1) % s->cap].feed_seq != out[n].feed_seq;
	}
	(void)pthread_mutex_unlock(&s->mu);
	return n;
}
