/*
 * test_acktrack.c: what the acknowledged path may acknowledge (daemon/acktrack.c), as a
 * usage example: marks move over contiguous sequences only, a hole holds them back and its
 * filling releases everything seen after it, sequences at or below the mark change nothing,
 * sequences beyond the window are not remembered, publishers are independent, and an
 * unknown reversal beyond the mark is unmarked after the commit so it is judged again; and
 * the bounds (issue 13, hole 5): a publisher in order keeps no list, out-of-order state
 * stays within ACK_RANGES_MAX ranges, lookups among many publishers stay exact, and the
 * least recently marked beyond t.max are dropped, their marks read back from a real store.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

/* Marks seq for publisher id and returns the mark after it. */
static uint64_t
mark(struct acktrack *t, const char *id, uint64_t seq)
{
	uint64_t through = UINT64_MAX;

	assert_int_equal(acktrack_mark(t, id, seq, &through), 0);
	return through;
}

static void
test_contiguous_and_holes(void **state)
{
	struct acktrack t;
	(void)state;

	assert_int_equal(acktrack_init(&t, 64), 0);
	assert_int_equal(mark(&t, "a", 1), 1);
	assert_int_equal(mark(&t, "a", 2), 2);
	assert_int_equal(mark(&t, "a", 4), 2); /* 3 missing: held */
	assert_int_equal(mark(&t, "a", 5), 2);
	assert_int_equal(mark(&t, "a", 3), 5); /* filled: jumps over 4 and 5 */
	assert_int_equal(mark(&t, "a", 2), 5); /* a resend changes nothing */
	assert_int_equal(mark(&t, "b", 1), 1); /* publishers are independent */
	assert_int_equal(mark(&t, "a", 6), 6);
	acktrack_done(&t);
	acktrack_done(&t); /* idempotent */
}

static void
test_window_bound(void **state)
{
	struct acktrack t;
	(void)state;

	assert_int_equal(acktrack_init(&t, 8), 0);
	assert_int_equal(mark(&t, "a", 1), 1);
	assert_int_equal(mark(&t, "a", 20), 1); /* beyond the window: not remembered */
	for (uint64_t s = 2; s <= 9; s++)
		assert_int_equal(mark(&t, "a", s), s);
	assert_int_equal(mark(&t, "a", 10), 10); /* 20 must come again */
	for (uint64_t s = 11; s <= 19; s++)
		(void)mark(&t, "a", s);
	assert_int_equal(mark(&t, "a", 20), 20);
	acktrack_done(&t);
	assert_int_equal(acktrack_init(&t, 0), -EINVAL);
}

static void
test_reversal_rejudged(void **state)
{
	struct acktrack t;
	struct batch b;
	(void)state;

	assert_int_equal(acktrack_init(&t, 64), 0);
	assert_int_equal(batch_init(&b, 4), 0);
	/* 1 arrives, 2 is lost, 3 is a reversal of 2: rejected as unknown */
	for (uint64_t s = 1; s <= 3; s += 2) {
		struct zt_entry *e = batch_next(&b, "x", 1, 0);
		assert_non_null(e);
		e->has_seq = true;
		strcpy(e->ev.publisher, "a");
		e->ev.sequence = s;
	}
	assert_int_equal(acktrack_batch(&t, &b), 0);
	assert_int_equal(b.e[0].through_in, 1);
	assert_int_equal(b.e[1].through_in, 1);
	b.e[1].outcome = ZT_OUT_REJECTED;
	b.e[1].reason = ZT_REJECT_REVERSAL_UNKNOWN;
	acktrack_committed(&t, &b);
	/* 2 arrives: the mark stops before 3, which the publisher resends */
	assert_int_equal(mark(&t, "a", 2), 2);
	assert_int_equal(mark(&t, "a", 3), 3);
	batch_done(&b);
	acktrack_done(&t);
}

/* A publisher in order costs no list; out of order, at most ACK_RANGES_MAX ranges. */
static void
test_ranges_bounded(void **state)
{
	struct acktrack t;
	(void)state;

	assert_int_equal(acktrack_init(&t, 100000), 0);
	for (uint64_t s = 1; s <= 1000; s++)
		assert_int_equal(mark(&t, "a", s), s);
	assert_null(t.newest->r);
	/* every other sequence missing: 1002, 1004, ... each a range of its own */
	for (uint64_t s = 1002; s <= 1200; s += 2) {
		assert_int_equal(mark(&t, "a", s), 1000);
		assert_true(t.newest->nr <= ACK_RANGES_MAX);
	}
	assert_int_equal(t.newest->nr, ACK_RANGES_MAX);
	/* the kept ranges are the lowest: 1002 .. 1032; filling releases them in turn */
	for (uint64_t s = 1001; s <= 1031; s += 2)
		assert_int_equal(mark(&t, "a", s), s + 1);
	assert_int_equal(mark(&t, "a", 1033), 1033); /* 1034 was forgotten: resent later */
	assert_int_equal(mark(&t, "a", 1034), 1034);
	assert_null(t.newest->r);
	/* ranges that touch merge: 1037, 1036 and 1039, then 1038 joins them */
	assert_int_equal(mark(&t, "a", 1037), 1034);
	assert_int_equal(mark(&t, "a", 1036), 1034);
	assert_int_equal(mark(&t, "a", 1039), 1034);
	assert_int_equal(mark(&t, "a", 1038), 1034);
	assert_int_equal(t.newest->nr, 1);
	assert_int_equal(mark(&t, "a", 1035), 1039);
	acktrack_done(&t);
}

/* Many publishers: each found again exactly, the newest first in the recency order. */
static void
test_many_publishers(void **state)
{
	struct acktrack t;
	char id[32];
	(void)state;

	assert_int_equal(acktrack_init(&t, 64), 0);
	for (int round = 1; round <= 2; round++)
		for (int i = 0; i < 50000; i++) {
			(void)snprintf(id, sizeof(id), "pub-%d", i);
			assert_int_equal(mark(&t, id, (uint64_t)(round + i % 3 * 10)),
			    i % 3 == 0 ? (uint64_t)round : 0);
		}
	assert_int_equal(t.n, 50000);
	assert_string_equal(t.newest->id, "pub-49999");
	/* the bound applies between batches: the least recently marked go first */
	t.max = 100;
	acktrack_trim(&t);
	assert_int_equal(t.n, 100);
	assert_int_equal(t.dropped, 49900);
	assert_string_equal(t.oldest->id, "pub-49900");
	assert_int_equal(mark(&t, "pub-49902", 3), 3); /* kept: 1, 2 seen */
	/* dropped, no store behind: a mark starts again from 0 */
	assert_int_equal(mark(&t, "pub-0", 3), 0);
	acktrack_done(&t);
	assert_int_equal(t.n, 0);
}

static char dir[] = "/tmp/zt-test-acktrack-XXXXXX";

/* Appends an entry of publisher id at seq to b, rejected before the store (no registry). */
static void
add_entry(struct batch *b, const char *id, uint64_t seq)
{
	struct zt_entry *e = batch_next(b, "x", 1, 1);
	assert_non_null(e);
	e->has_seq = true;
	(void)snprintf(e->ev.publisher, sizeof(e->ev.publisher), "%s", id);
	e->ev.sequence = seq;
	e->reason_in = ZT_REJECT_UNKNOWN_ZONE;
}

/* Dropped publishers come back with the mark their last commit persisted. */
static void
test_dropped_mark_from_store(void **state)
{
	struct zt_store *s = NULL;
	struct acktrack t;
	struct batch b;
	char sdir[sizeof(dir) + 8], id[8];
	struct zt_apply_opts opts = {
	    .now_ms = 1700000000000, .dedup_window_days = 35, .rejects_max = 100, .prune_max = 100};
	(void)state;

	assert_non_null(mkdtemp(dir));
	(void)snprintf(sdir, sizeof(sdir), "%s/store", dir);
	assert_int_equal(mkdir(sdir, 0700), 0);
	assert_int_equal(zt_store_open(sdir, ZT_STORE_NOSYNC, 16u << 20, &s), 0);
	assert_int_equal(acktrack_init(&t, 64), 0);
	assert_int_equal(acktrack_load(&t, s), 0);
	assert_int_equal(batch_init(&b, 64), 0);
	/* ten publishers, sequences 1..5 each (4 of p0 lost), in one committed batch */
	for (uint64_t seq = 1; seq <= 5; seq++)
		for (int i = 0; i < 10; i++) {
			(void)snprintf(id, sizeof(id), "p%d", i);
			if (i != 0 || seq != 4)
				add_entry(&b, id, seq);
		}
	t.max = 3; /* one batch may hold more: all kept until the next one */
	assert_int_equal(acktrack_batch(&t, &b), 0);
	assert_int_equal(t.n, 10);
	assert_int_equal(b.e[b.n - 1].through_in, 5);
	batch_seal(&b);
	assert_int_equal(zt_store_apply(s, b.e, b.n, &opts, NULL), 0);
	acktrack_committed(&t, &b);
	batch_clear(&b);
	/* the next batch: p9 again; the bound drops all but the three most recent first */
	add_entry(&b, "p9", 6);
	assert_int_equal(acktrack_batch(&t, &b), 0);
	assert_int_equal(t.n, 3);
	assert_int_equal(b.e[0].through_in, 6);
	/* p1 was dropped: its mark 5 comes from the store; p0's is 3 (4 never came), and what
	 * it had seen above (5) is forgotten with it, to be resent */
	assert_int_equal(mark(&t, "p1", 6), 6);
	assert_int_equal(mark(&t, "p0", 4), 4);
	assert_int_equal(mark(&t, "p0", 5), 5);
	assert_int_equal(mark(&t, "new", 1), 1);
	batch_done(&b);
	acktrack_done(&t);
	zt_store_free(s);
	char cmd[sizeof(dir) + 16];
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_contiguous_and_holes),
	    cmocka_unit_test(test_window_bound),
	    cmocka_unit_test(test_reversal_rejudged),
	    cmocka_unit_test(test_ranges_bounded),
	    cmocka_unit_test(test_many_publishers),
	    cmocka_unit_test(test_dropped_mark_from_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
