/*
 * test_store_shared.c: what the daemon's feed and query socket take from the writer's
 * store: zt_store_changed() lists exactly the totals the last commit wrote, with their new
 * absolute values, in key order; a zt_store_open_shared() handle reads from another thread
 * while the owner commits and grows the map under it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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
	snprintf(dir, sizeof(dir), "/tmp/zt-shared-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char p[128];
	(void)state;
	const char *files[] = {"data.mdb", "lock.mdb"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		(void)unlink(p);
	}
	return rmdir(dir);
}

static struct zt_entry
decl(uint16_t id, uint32_t zone, int64_t value)
{
	struct zt_entry e = {.ev = {.direction = ZT_DIR_EXPORT,
	                         .mode = ZT_MODE_9610,
	                         .zone = zone,
	                         .items = 2,
	                         .value_fen = value,
	                         .declared_at_ms = T0 + 1000}};
	e.ev.id[0] = 0xCD;
	e.ev.id[14] = (uint8_t)(id >> 8);
	e.ev.id[15] = (uint8_t)id;
	return e;
}

static const struct zt_apply_opts opts = {.now_ms = T0 + 86400000LL,
    .future_tolerance_ms = 300000,
    .dedup_window_days = 35,
    .rejects_max = 100,
    .prune_max = 100};

struct seen {
	struct zt_store *s;
	size_t n;
	uint8_t last[ZT_TKEY_LEN];
};

/* Checks order and that each value equals what the store reads back. */
static int
seen_cb(const struct zt_tkey *k, const struct zt_totals *t, void *arg)
{
	struct seen *x = arg;
	uint8_t key[ZT_TKEY_LEN];
	struct zt_totals back;

	zt_tkey_encode(k, key);
	if (x->n > 0)
		assert_true(memcmp(x->last, key, ZT_TKEY_LEN) < 0);
	memcpy(x->last, key, ZT_TKEY_LEN);
	assert_int_equal(zt_store_get(x->s, k, &back), 1);
	assert_memory_equal(&back, t, sizeof(back));
	x->n++;
	return 0;
}

static void
test_changed(void **state)
{
	(void)state;
	struct zt_store *s = NULL;
	struct seen x = {0};

	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
	x.s = s;
	assert_int_equal(zt_store_changed(s, seen_cb, &x), -ENOENT);
	struct zt_entry e[2] = {decl(1, 330100, 500), decl(2, 330100, 7)};
	assert_int_equal(zt_store_apply(s, e, 2, &opts, NULL), 0);
	assert_int_equal(zt_store_changed(s, seen_cb, &x), 0);
	/* one zone: 3 levels x 4 granularities x (EXPORT, ALL) x (9610, ALL) */
	assert_int_equal(x.n, 48);
	/* a commit that changes nothing (a duplicate) lists nothing */
	x.n = 0;
	assert_int_equal(zt_store_apply(s, e, 1, &opts, NULL), 0);
	assert_int_equal(zt_store_changed(s, seen_cb, &x), 0);
	assert_int_equal(x.n, 0);
	zt_store_free(s);
}

struct reader_arg {
	struct zt_store *r;
	atomic_int stop;
	long reads;
	int64_t last_events;
};

/* Reads the all-time total again and again; it must never go backwards. */
static void *
reader_main(void *p)
{
	struct reader_arg *a = p;
	struct zt_tkey k = {ZT_LEVEL_NATION, 0, ZT_GRAN_ALL, 0, ZT_DIR_ALL, ZT_MODE_ALL};
	struct zt_totals t;

	while (!atomic_load(&a->stop)) {
		if (zt_store_get(a->r, &k, &t) < 0 || t.events < a->last_events)
			return (void *)1;
		a->last_events = t.events;
		a->reads++;
	}
	return NULL;
}

static void
test_shared_reads_while_growing(void **state)
{
	(void)state;
	struct zt_store *w = NULL;
	struct reader_arg a = {0};
	pthread_t th;
	void *res = NULL;

	assert_int_equal(zt_store_open(dir, 0, 256 << 10, &w), 0);
	assert_int_equal(zt_store_open_shared(w, &a.r), 0);
	assert_int_equal(pthread_create(&th, NULL, reader_main, &a), 0);
	for (uint16_t i = 0; i < 100; i++) {
		struct zt_entry b[50];
		for (uint16_t j = 0; j < 50; j++)
			b[j] = decl((uint16_t)(i * 50 + j), 330100, 1);
		assert_int_equal(zt_store_apply(w, b, 50, &opts, NULL), 0);
	}
	atomic_store(&a.stop, 1);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_null(res);
	uint64_t map, used;
	assert_int_equal(zt_store_size(w, &map, &used), 0);
	assert_true(map > (256 << 10));
	struct zt_tkey k = {ZT_LEVEL_NATION, 0, ZT_GRAN_ALL, 0, ZT_DIR_ALL, ZT_MODE_ALL};
	struct zt_totals t;
	assert_int_equal(zt_store_get(a.r, &k, &t), 1);
	assert_int_equal(t.events, 5000);
	assert_true(a.reads > 0);
	zt_store_free(a.r);
	zt_store_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_changed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shared_reads_while_growing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
