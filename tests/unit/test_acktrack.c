/*
 * test_acktrack.c: what the acknowledged path may acknowledge (daemon/acktrack.c), as a
 * usage example: marks move over contiguous sequences only, a hole holds them back and its
 * filling releases everything seen after it, sequences at or below the mark change nothing,
 * sequences beyond the window are not remembered, publishers are independent, and an
 * unknown reversal beyond the mark is unmarked after the commit so it is judged again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_contiguous_and_holes),
	    cmocka_unit_test(test_window_bound),
	    cmocka_unit_test(test_reversal_rejudged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
