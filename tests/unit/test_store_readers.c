/*
 * test_store_readers.c: zt_store_oldest_reader() (store/readers.c). A shared handle holding a
 * snapshot while the owner commits is found (this pid, the commits behind, the pages freed
 * since, an age that grows with the caller's clock); a handle that reads outside a
 * snapshot holds nothing between calls; an ended snapshot is no longer reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define T0 1668096000000LL /* 2022-11-11 00:00 CST */

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/zt-readers-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char p[128];

	(void)state;
	(void)snprintf(p, sizeof(p), "%s/data.mdb", dir);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	(void)unlink(p);
	return rmdir(dir);
}

/* Commits one batch of n declarations with ids from `first` (each commit frees pages). */
static void
commit(struct zt_store *s, int first, int n)
{
	static const struct zt_apply_opts opts = {.now_ms = T0 + 2 * 86400000LL,
	    .future_tolerance_ms = 300000,
	    .dedup_window_days = 35,
	    .rejects_max = 10};
	struct zt_entry *e = calloc((size_t)n, sizeof(*e));

	assert_non_null(e);
	for (int i = 0; i < n; i++) {
		e[i].ev = (struct zt_event){.direction = ZT_DIR_EXPORT,
		    .mode = ZT_MODE_9610,
		    .zone = i % 2 ? 330100 : 440100,
		    .items = 1,
		    .value_fen = 100,
		    .declared_at_ms = T0 + (first + i) % 86400000};
		uint32_t id = (uint32_t)(first + i);
		memcpy(e[i].ev.id, &id, sizeof(id));
		e[i].ev.id[15] = 0x7f;
	}
	assert_int_equal(zt_store_apply(s, e, (size_t)n, &opts, NULL), 0);
	free(e);
}

static struct zt_store *
make_store(void)
{
	struct zt_store *s = NULL;
	struct zt_zone *z = NULL;
	size_t line = 0;

	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
	int n = zt_registry_load_file(ZT_ZONES_CSV, &z, &line);
	assert_true(n > 0);
	assert_int_equal(zt_store_put_zones(s, z, (size_t)n), 0);
	free(z);
	commit(s, 0, 500);
	return s;
}

static void
test_held_snapshot(void **state)
{
	struct zt_store *s = make_store(), *rd = NULL;
	struct zt_readers_memo *memo = calloc(1, sizeof(*memo));
	struct zt_oldest_reader o;

	(void)state;
	assert_non_null(memo);
	assert_int_equal(zt_store_open_shared(s, &rd), 0);
	assert_int_equal(zt_store_oldest_reader(s, memo, 1000, &o), 0);
	assert_int_equal(o.pid, 0);

	assert_int_equal(zt_store_read_begin(rd), 0);
	for (int i = 1; i <= 5; i++)
		commit(s, i * 500, 500);
	assert_int_equal(zt_store_oldest_reader(s, memo, 2000, &o), 0);
	assert_int_equal(o.pid, getpid());
	assert_int_equal(o.behind, 5);
	assert_int_equal(o.age_ms, 0); /* first seen at this call */
	assert_true(o.pinned_pages > 0);
	uint64_t pinned = o.pinned_pages, txnid = o.txnid;

	commit(s, 3000, 500);
	assert_int_equal(zt_store_oldest_reader(s, memo, 7500, &o), 0);
	assert_int_equal(o.txnid, txnid);
	assert_int_equal(o.behind, 6);
	assert_int_equal(o.age_ms, 5500);
	assert_true(o.pinned_pages > pinned); /* the new commit's frees are added */
	assert_false(o.pinned_partial);

	zt_store_read_end(rd);
	assert_int_equal(zt_store_oldest_reader(s, memo, 8000, &o), 0);
	assert_int_equal(o.pid, 0);
	assert_int_equal(o.pinned_pages, 0);
	zt_store_free(rd);
	zt_store_free(s);
	free(memo);
}

/* A read outside zt_store_read_begin() resets its transaction: nothing is held after it. */
static void
test_reads_hold_nothing_between_calls(void **state)
{
	struct zt_store *s = make_store(), *rd = NULL;
	struct zt_readers_memo *memo = calloc(1, sizeof(*memo));
	struct zt_tkey k = {.level = ZT_LEVEL_NATION, .gran = ZT_GRAN_ALL};
	struct zt_totals t;
	struct zt_oldest_reader o;

	(void)state;
	assert_non_null(memo);
	assert_int_equal(zt_store_open_shared(s, &rd), 0);
	assert_true(zt_store_get(rd, &k, &t) >= 0);
	commit(s, 1000, 500);
	assert_int_equal(zt_store_oldest_reader(s, memo, 1000, &o), 0);
	assert_int_equal(o.pid, 0);
	zt_store_free(rd);
	zt_store_free(s);
	free(memo);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_held_snapshot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reads_hold_nothing_between_calls, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
