/*
 * test_store.c: the store's lifetime: create and reopen, registry round trip, read-only
 * open (no store, and while a writer has it open), schema mismatch refused, snapshots,
 * error texts and sizes. Every store lives in a mkdtemp() directory removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <lmdb.h>
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
	snprintf(dir, sizeof(dir), "/tmp/zt-store-XXXXXX");
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
decl(uint8_t id, uint32_t zone, int64_t value)
{
	struct zt_entry e = {.ev = {.direction = ZT_DIR_EXPORT,
	                         .mode = ZT_MODE_9610,
	                         .zone = zone,
	                         .items = 2,
	                         .value_fen = value,
	                         .declared_at_ms = T0 + 1000}};
	e.ev.id[0] = 0xAB;
	e.ev.id[15] = id;
	return e;
}

static const struct zt_apply_opts opts = {.now_ms = T0 + 86400000LL,
    .future_tolerance_ms = 300000,
    .dedup_window_days = 35,
    .rejects_max = 100,
    .prune_max = 100};

static void
test_create_reopen_zones(void **state)
{
	(void)state;
	struct zt_store *s = NULL;
	struct zt_zone *z = NULL;
	size_t line = 0;
	struct zt_counters c;
	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
	assert_int_equal(zt_store_counters(s, &c), 0);
	assert_int_equal(c.commits, 0);
	assert_int_equal(c.feed_seq, 0);
	int n = zt_registry_load_file(ZT_ZONES_CSV, &z, &line);
	assert_int_equal(n, 181);
	assert_null(zt_store_zone(s, 330100));
	assert_int_equal(zt_store_put_zones(s, z, (size_t)n), 0);
	free(z);
	assert_string_equal(zt_store_zone(s, 330100)->city_en, "Hangzhou");
	s = zt_store_free(s);
	assert_null(s);
	assert_null(zt_store_free(NULL));
	assert_int_equal(zt_store_open(dir, ZT_STORE_RDONLY, 0, &s), 0);
	const struct zt_zone *all;
	assert_int_equal(zt_store_zones(s, &all), 181);
	const struct zt_zone *hn = zt_store_zone(s, 460000);
	assert_non_null(hn);
	assert_int_equal(hn->approved_year, 2025);
	assert_string_equal(zt_store_zone(s, 330100)->city_zh, "杭州市");
	assert_null(zt_store_zone(s, 330000));
	assert_int_equal(zt_store_put_zones(s, all, 1), -EROFS);
	struct zt_entry e = decl(1, 330100, 5);
	assert_int_equal(zt_store_apply(s, &e, 1, &opts, NULL), -EROFS);
	uint64_t map, used;
	assert_int_equal(zt_store_size(s, &map, &used), 0);
	assert_true(used > 0 && used <= map);
	zt_store_free(s);
}

static void
test_rdonly_nostore(void **state)
{
	(void)state;
	struct zt_store *s = NULL;
	assert_int_equal(zt_store_open(dir, ZT_STORE_RDONLY, 0, &s), ZT_E_NOSTORE);
	assert_null(s);
	assert_int_equal(zt_store_open("/nonexistent/zt", 0, 0, &s), -ENOENT);
	assert_string_equal(zt_strerror(ZT_E_NOSTORE), "no store in this directory");
	assert_string_equal(zt_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(zt_strerror(ZT_E_SCHEMA), "store has another schema version");
}

static void
test_reader_beside_writer(void **state)
{
	(void)state;
	struct zt_store *w = NULL, *r = NULL;
	struct zt_totals t;
	struct zt_tkey k = {ZT_LEVEL_ZONE, 330100, ZT_GRAN_ALL, 0, ZT_DIR_ALL, ZT_MODE_ALL};
	assert_int_equal(zt_store_open(dir, 0, 1 << 20, &w), 0);
	assert_int_equal(zt_store_open(dir, ZT_STORE_RDONLY, 0, &r), 0);
	assert_int_equal(zt_store_get(r, &k, &t), 0);
	struct zt_entry e = decl(1, 330100, 500);
	assert_int_equal(zt_store_apply(w, &e, 1, &opts, NULL), 0);
	assert_int_equal(zt_store_get(r, &k, &t), 1);
	assert_int_equal(t.value_fen, 500);
	/* a snapshot keeps its view while the writer commits */
	assert_int_equal(zt_store_read_begin(r), 0);
	assert_int_equal(zt_store_read_begin(r), -EBUSY);
	e = decl(2, 330100, 70);
	assert_int_equal(zt_store_apply(w, &e, 1, &opts, NULL), 0);
	assert_int_equal(zt_store_get(r, &k, &t), 1);
	assert_int_equal(t.value_fen, 500);
	zt_store_read_end(r);
	assert_int_equal(zt_store_get(r, &k, &t), 1);
	assert_int_equal(t.value_fen, 570);
	/* the writer may not apply inside its own snapshot (the map could move) */
	assert_int_equal(zt_store_read_begin(w), 0);
	assert_int_equal(zt_store_apply(w, &e, 1, &opts, NULL), -EBUSY);
	zt_store_read_end(w);
	/* the writer grows the map well past the reader's; the reader adopts it */
	for (uint8_t i = 0; i < 200; i++) {
		struct zt_entry b[50];
		for (int j = 0; j < 50; j++) {
			b[j] = decl(0, 330100, 1);
			b[j].ev.id[1] = (uint8_t)(i + 1);
			b[j].ev.id[2] = (uint8_t)j;
			b[j].ev.declared_at_ms = T0 + 1000 - 86400000LL * (j % 30);
		}
		assert_int_equal(zt_store_apply(w, b, 50, &opts, NULL), 0);
	}
	uint64_t map_w, map_r, used;
	assert_int_equal(zt_store_size(w, &map_w, &used), 0);
	assert_true(map_w > (1 << 20));
	assert_int_equal(zt_store_get(r, &k, &t), 1);
	assert_int_equal(t.events, 2 + 200 * 50);
	assert_int_equal(zt_store_size(r, &map_r, &used), 0);
	assert_int_equal(map_r, map_w);
	zt_store_free(r);
	zt_store_free(w);
}

/* Writes meta/"schema" with raw LMDB, as another version of zonetally would have. */
static void
write_schema(uint32_t version)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t v[4] = {(uint8_t)(version >> 24), (uint8_t)(version >> 16), (uint8_t)(version >> 8),
	    (uint8_t)version};
	MDB_val key = {6, (char[]){"schema"}}, val = {4, v};
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_schema_mismatch(void **state)
{
	(void)state;
	struct zt_store *s = NULL;
	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
	zt_store_free(s);
	write_schema(ZT_SCHEMA_VERSION + 1);
	s = NULL;
	assert_int_equal(zt_store_open(dir, 0, 0, &s), ZT_E_SCHEMA);
	assert_null(s);
	assert_int_equal(zt_store_open(dir, ZT_STORE_RDONLY, 0, &s), ZT_E_SCHEMA);
	write_schema(ZT_SCHEMA_VERSION);
	assert_int_equal(zt_store_open(dir, ZT_STORE_RDONLY, 0, &s), 0);
	zt_store_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_reopen_zones, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rdonly_nostore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reader_beside_writer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_mismatch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
