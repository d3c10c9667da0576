/*
 * test_batch.c: the batch buffers (daemon/batch.c). Every per-entry datum of a batch (the
 * store's zt_entry, the daemon's batch_tag) is grown together by one function (issue 13,
 * hole 2: a reload that raised max_events grew two arrays of three), and a grow that fails
 * leaves the batch as it was and usable.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"

/* Appends entry i: payload "event <i>", peer i % 7 (0: the SUB socket). */
static void
append(struct batch *b, size_t i)
{
	char payload[32];
	int len = snprintf(payload, sizeof(payload), "event %zu", i);

	struct zt_entry *e = batch_next(b, payload, (size_t)len, (uint32_t)(i % 7));
	assert_non_null(e);
	e->ev.sequence = i + 1;
}

/* Checks entries 0..n-1 after sealing: payload copy, peer and sequence of each. */
static void
check(struct batch *b, size_t n)
{
	char payload[32];

	assert_int_equal(b->n, n);
	batch_seal(b);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(payload, sizeof(payload), "event %zu", i);
		assert_int_equal(b->e[i].raw_len, len);
		assert_memory_equal(b->e[i].raw, payload, (size_t)len);
		assert_int_equal(b->tag[i].peer, i % 7);
		assert_int_equal(b->e[i].ev.sequence, i + 1);
	}
}

static void
test_grow_keeps_every_array(void **state)
{
	struct batch b;
	(void)state;

	assert_int_equal(batch_init(&b, 8), 0);
	for (size_t i = 0; i < 8; i++)
		append(&b, i);
	assert_null(batch_next(&b, "x", 1, 0)); /* full */
	assert_int_equal(batch_grow(&b, 4), 0); /* lowering keeps the memory */
	assert_int_equal(b.cap, 8);
	assert_int_equal(batch_grow(&b, 100000), 0);
	for (size_t i = 8; i < 100000; i++)
		append(&b, i);
	check(&b, 100000);
	batch_done(&b);
	batch_done(&b); /* idempotent */
}

static void
test_failed_grow_leaves_batch_usable(void **state)
{
	struct batch b;
	(void)state;

	assert_int_equal(batch_init(&b, 16), 0);
	for (size_t i = 0; i < 10; i++)
		append(&b, i);
	assert_int_equal(batch_grow(&b, SIZE_MAX / 4), -ENOMEM);
	assert_int_equal(b.cap, 16);
	for (size_t i = 10; i < 16; i++)
		append(&b, i);
	check(&b, 16);
	batch_clear(&b);
	assert_int_equal(b.n, 0);
	append(&b, 0);
	check(&b, 1);
	batch_done(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow_keeps_every_array),
	    cmocka_unit_test(test_failed_grow_leaves_batch_usable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
