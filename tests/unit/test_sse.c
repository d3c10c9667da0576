/*
 * test_sse.c: the event stream's history (daemon/sse.c), as a usage example: the main
 * thread pushes the totals of each commit and marks it complete; readers see only complete
 * commits, each record knowing whether it is its commit's last; Last-Event-ID "N" and "N.K"
 * resume right after the event named; ids from before the history, from the future or
 * malformed are refused (-ESTALE, -EINVAL: snapshot instead); a reader a whole history
 * behind is cut off (-EPIPE); a stop wakes everyone (-ESHUTDOWN).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"

/* Pushes commit seq with `blocks` blocks (zone codes 1..blocks), each import and total. */
static void
commit(struct sse *s, uint64_t seq, uint32_t blocks)
{
	for (uint32_t c = 1; c <= blocks; c++)
		for (uint8_t d = 0; d < 2; d++) {
			struct zt_tkey k = {.level = ZT_LEVEL_ZONE,
			    .code = c,
			    .gran = ZT_GRAN_DAY,
			    .bucket = 20221111,
			    .direction = d == 0 ? ZT_DIR_ALL : ZT_DIR_IMPORT,
			    .mode = ZT_MODE_ALL};
			struct zt_totals t = {.events = (int64_t)seq, .value_fen = 100};
			sse_push(s, seq, &k, &t);
		}
	sse_commit(s, seq);
}

static void
test_read_and_last(void **state)
{
	struct sse *s;
	struct sse_rec r[16];
	uint64_t pos = 0;
	(void)state;

	assert_int_equal(sse_new(64, 10, &s), 0);
	assert_int_equal(sse_after_snapshot(s, 10, &pos), 0);
	assert_int_equal(sse_read(s, &pos, r, 16, 0), 0); /* nothing yet: returns at once */
	commit(s, 11, 3);
	commit(s, 12, 1);
	assert_int_equal(sse_read(s, &pos, r, 16, 1000), 4);
	assert_int_equal(r[0].feed_seq, 11);
	assert_int_equal(r[0].index, 1);
	assert_int_equal(r[0].dirs, (1u << ZT_DIR_ALL) | (1u << ZT_DIR_IMPORT));
	assert_false(r[1].last);
	assert_true(r[2].last); /* third block of 11 */
	assert_int_equal(r[3].index, 1);
	assert_true(r[3].last);
	sse_free(s);
}

static void
test_resume(void **state)
{
	struct sse *s;
	struct sse_rec r[16];
	uint64_t pos;
	(void)state;

	assert_int_equal(sse_new(64, 10, &s), 0);
	commit(s, 11, 3);
	commit(s, 12, 2);
	assert_int_equal(sse_resume(s, "11", &pos), 0); /* all of 11 received */
	assert_int_equal(sse_read(s, &pos, r, 16, 0), 2);
	assert_int_equal(r[0].feed_seq, 12);
	assert_int_equal(sse_resume(s, "11.1", &pos), 0); /* cut inside 11 */
	assert_int_equal(sse_read(s, &pos, r, 16, 0), 4);
	assert_int_equal(r[0].index, 2);
	assert_int_equal(sse_resume(s, "10", &pos), 0);       /* the start: nothing lost yet */
	assert_int_equal(sse_resume(s, "9", &pos), -ESTALE);  /* before this history */
	assert_int_equal(sse_resume(s, "13", &pos), -ESTALE); /* the future */
	assert_int_equal(sse_resume(s, "x", &pos), -EINVAL);
	assert_int_equal(sse_resume(s, "11.0", &pos), -EINVAL);
	assert_int_equal(sse_resume(s, "11.2x", &pos), -EINVAL);
	sse_free(s);
}

static void
test_overrun_and_stop(void **state)
{
	struct sse *s;
	struct sse_rec r[4];
	uint64_t pos = 0, p2;
	(void)state;

	assert_int_equal(sse_new(8, 0, &s), 0);
	assert_int_equal(sse_after_snapshot(s, 0, &pos), 0);
	for (uint64_t seq = 1; seq <= 5; seq++)
		commit(s, seq, 3); /* 15 records through a ring of 8 */
	assert_int_equal(sse_read(s, &pos, r, 4, 0), -EPIPE);
	assert_int_equal(sse_resume(s, "2", &p2), -ESTALE);   /* part of 3 is gone */
	assert_int_equal(sse_resume(s, "3.2", &p2), -ESTALE); /* 3 is partly gone */
	assert_int_equal(sse_resume(s, "3", &p2), 0);
	assert_int_equal(sse_after_snapshot(s, 1, &p2), -ESTALE);
	sse_stop(s);
	assert_int_equal(sse_read(s, &p2, r, 4, 1000), -ESHUTDOWN);
	sse_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_and_last),
	    cmocka_unit_test(test_resume),
	    cmocka_unit_test(test_overrun_and_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
