/*
 * test_store_ops.c: the operator side of the store: verify on a consistent store, on one
 * whose roll-up was altered behind its back (by raw LMDB, as a disk fault or a bug would),
 * backup of a store into an empty directory (and the refusal of a non-empty one), and
 * reader slots.
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
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define T0 1668096000000LL /* 2022-11-11 00:00 CST */

static char dir[64], bk[80];

static void
rm_store(const char *d)
{
	char p[128];

	(void)snprintf(p, sizeof(p), "%s/data.mdb", d);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s/lock.mdb", d);
	(void)unlink(p);
}

static int
setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/zt-ops-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	(void)snprintf(bk, sizeof(bk), "%s/bk", dir);
	return mkdir(bk, 0700);
}

static int
teardown(void **state)
{
	(void)state;
	rm_store(bk);
	(void)rmdir(bk);
	rm_store(dir);
	return rmdir(dir);
}

/* A store with a few declarations in two zones and two days. */
static void
make_store(void)
{
	static const struct zt_apply_opts opts = {.now_ms = T0 + 2 * 86400000LL,
	    .future_tolerance_ms = 300000,
	    .dedup_window_days = 35,
	    .rejects_max = 10};
	struct zt_store *s = NULL;
	struct zt_zone *z = NULL;
	struct zt_entry e[4] = {0};
	size_t line = 0;

	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
	int n = zt_registry_load_file(ZT_ZONES_CSV, &z, &line);
	assert_true(n > 0);
	assert_int_equal(zt_store_put_zones(s, z, (size_t)n), 0);
	free(z);
	for (int i = 0; i < 4; i++) {
		e[i].ev = (struct zt_event){.direction = i % 2 ? ZT_DIR_IMPORT : ZT_DIR_EXPORT,
		    .mode = ZT_MODE_9610,
		    .zone = i < 2 ? 330100 : 440100,
		    .items = 1,
		    .value_fen = 100 * (i + 1),
		    .declared_at_ms = T0 + i * 86400000LL / 2};
		e[i].ev.id[0] = 0x42;
		e[i].ev.id[15] = (uint8_t)i;
	}
	assert_int_equal(zt_store_apply(s, e, 4, &opts, NULL), 0);
	zt_store_free(s);
}

static void
test_verify_and_backup(void **state)
{
	struct zt_store *s = NULL, *b = NULL;
	struct zt_verify_report rep;
	unsigned used = 0, max = 0;

	(void)state;
	make_store();
	assert_int_equal(zt_store_open(dir, ZT_STORE_RDONLY, 0, &s), 0);
	assert_int_equal(zt_store_verify(s, &rep), 0);
	assert_true(rep.totals > 0);
	assert_int_equal(rep.mismatches + rep.missing, 0);
	assert_int_equal(zt_store_readers(s, &used, &max), 0);
	assert_true(max >= 1);
	assert_int_equal(zt_store_backup(s, bk, true), 0);
	assert_int_equal(zt_store_backup(s, bk, true), -EEXIST);
	zt_store_free(s);
	assert_int_equal(zt_store_open(bk, ZT_STORE_RDONLY, 0, &b), 0);
	struct zt_verify_report rb;
	assert_int_equal(zt_store_verify(b, &rb), 0);
	assert_int_equal(rb.totals, rep.totals);
	zt_store_free(b);
}

/* Adds one to the events of the nation's all-time total, by raw LMDB. */
static void
tamper(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	uint8_t key[ZT_TKEY_LEN], val[32];
	struct zt_tkey t = {.level = ZT_LEVEL_NATION, .gran = ZT_GRAN_ALL};

	zt_tkey_encode(&t, key);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "totals", 0, &dbi), 0);
	k.mv_size = sizeof(key), k.mv_data = key;
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_int_equal(v.mv_size, sizeof(val));
	memcpy(val, v.mv_data, sizeof(val));
	val[7]++; /* big-endian i64 events: low byte */
	v.mv_data = val;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_verify_finds_tampering(void **state)
{
	struct zt_store *s = NULL;
	struct zt_verify_report rep;

	(void)state;
	rm_store(dir);
	make_store();
	tamper();
	assert_int_equal(zt_store_open(dir, ZT_STORE_RDONLY, 0, &s), 0);
	assert_int_equal(zt_store_verify(s, &rep), ZT_E_CORRUPT);
	assert_int_equal(rep.mismatches, 1);
	assert_int_equal(rep.first_bad.level, ZT_LEVEL_NATION);
	assert_int_equal(rep.first_bad.gran, ZT_GRAN_ALL);
	zt_store_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify_and_backup),
	    cmocka_unit_test(test_verify_finds_tampering),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
