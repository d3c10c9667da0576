/*
 * raw_lmdb.c: the storage ceiling: LMDB alone inserting 16-byte dedup keys (with a 29-byte
 * value, the size of the daemon's dedup record) in durable transactions of 10,000 keys,
 * each commit fsynced. Nothing else is written: no totals, no age index, no counters.
 *
 * usage: raw_lmdb DIR ordered N           N time-ordered keys into an empty tree
 *        raw_lmdb DIR random N PREFILL    N random keys into a tree already holding PREFILL
 * DIR must be an empty directory on the file system being measured. The prefill is not
 * timed: its keys are sorted and appended (MDB_APPEND) in large transactions without fsync,
 * then synced once. Prints inserted keys/s, timed from the first transaction to the last
 * commit.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchclock.h"

#define KEY_LEN      16
#define VAL_LEN      29
#define TXN_KEYS     10000
#define PREFILL_TXN  1000000
#define MAP_SIZE     (64ull << 30) /* sparse: only what is written takes space */
#define BASE_TIME_MS 1668096000000ull

/* splitmix64: the random half of a key, and the random keys. */
static uint64_t
mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void
be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Key i: time-ordered (a big-endian time-and-counter, then random bits, as the recommended
 * event_id form) or fully random. */
static void
make_key(uint8_t k[KEY_LEN], uint64_t i, int ordered, uint64_t *seed)
{
	be64(k, ordered ? (BASE_TIME_MS << 16) + i : mix(seed));
	be64(k + 8, mix(seed));
}

/* Commits, or aborts if rc already says the transaction failed. */
static int
finish(MDB_txn *txn, int rc)
{
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, KEY_LEN);
}

/* Sorted random keys appended without fsync, then one sync: a tree of n keys, quickly. */
static int
prefill(MDB_env *env, MDB_dbi dbi, size_t n, uint64_t seed)
{
	uint8_t *keys = malloc(n * KEY_LEN), val[VAL_LEN] = {0};
	int rc = keys == NULL ? ENOMEM : 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		make_key(keys + i * KEY_LEN, i, 0, &seed);
	if (rc == 0) {
		qsort(keys, n, KEY_LEN, key_cmp);
		rc = mdb_env_set_flags(env, MDB_NOSYNC, 1);
	}
	for (size_t i = 0; rc == 0 && i < n; i += PREFILL_TXN) {
		MDB_txn *txn;
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			break;
		for (size_t j = i; rc == 0 && j < n && j < i + PREFILL_TXN; j++) {
			MDB_val k = {KEY_LEN, keys + j * KEY_LEN}, v = {VAL_LEN, val};
			if (j > 0 &&
			    memcmp(keys + j * KEY_LEN, keys + (j - 1) * KEY_LEN, KEY_LEN) == 0)
				continue; /* a 128-bit collision: never in practice */
			rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
		}
		rc = finish(txn, rc);
	}
	free(keys);
	if (rc == 0 && (rc = mdb_env_set_flags(env, MDB_NOSYNC, 0)) == 0)
		rc = mdb_env_sync(env, 1);
	return rc;
}

/* n inserts in durable transactions of TXN_KEYS; *ret_rate gets keys/s. */
static int
measure(MDB_env *env, MDB_dbi dbi, uint64_t n, int ordered, uint64_t seed, double *ret_rate)
{
	uint8_t k[KEY_LEN], val[VAL_LEN];
	double t0 = bench_now_s();
	int rc = 0;

	memset(val, 0x42, sizeof(val));
	for (uint64_t i = 0; rc == 0 && i < n; i += TXN_KEYS) {
		MDB_txn *txn;
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			break;
		for (uint64_t j = i; rc == 0 && j < n && j < i + TXN_KEYS; j++) {
			make_key(k, j, ordered, &seed);
			MDB_val mk = {KEY_LEN, k}, mv = {VAL_LEN, val};
			rc = mdb_put(txn, dbi, &mk, &mv, MDB_NOOVERWRITE);
		}
		rc = finish(txn, rc);
	}
	*ret_rate = (double)n / (bench_now_s() - t0);
	return rc;
}

static int
open_env(const char *dir, MDB_env **ret_env, MDB_dbi *ret_dbi)
{
	MDB_txn *txn;
	int rc = mdb_env_create(ret_env);

	if (rc == 0 && (rc = mdb_env_set_mapsize(*ret_env, MAP_SIZE)) == 0 &&
	    (rc = mdb_env_open(*ret_env, dir, 0, 0644)) == 0 &&
	    (rc = mdb_txn_begin(*ret_env, NULL, 0, &txn)) == 0) {
		rc = mdb_dbi_open(txn, NULL, 0, ret_dbi);
		rc = finish(txn, rc);
	}
	return rc;
}

static int
parse(const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t n = 0, pre = 0;
	int ordered = argc == 4 && strcmp(argv[2], "ordered") == 0;
	MDB_env *env = NULL;
	MDB_dbi dbi;
	double rate = 0;

	if (!(ordered || (argc == 5 && strcmp(argv[2], "random") == 0)) || parse(argv[3], &n) ||
	    n == 0 || (argc == 5 && parse(argv[4], &pre))) {
		fprintf(stderr, "usage: raw_lmdb DIR ordered N | raw_lmdb DIR random N PREFILL\n");
		return 2;
	}
	int rc = open_env(argv[1], &env, &dbi);
	if (rc == 0 && pre > 0)
		rc = prefill(env, dbi, (size_t)pre, 1);
	if (rc == 0)
		rc = measure(env, dbi, n, ordered, 2, &rate);
	if (env != NULL)
		mdb_env_close(env);
	if (rc != 0) {
		fprintf(stderr, "raw_lmdb: %s: %s\n", argv[1], mdb_strerror(rc));
		return 1;
	}
	printf("keys: %s, %llu into a tree of %llu, %d per durable transaction\n",
	    ordered ? "time-ordered" : "random", (unsigned long long)n, (unsigned long long)pre,
	    TXN_KEYS);
	printf("throughput: %.0f [keys/s]\n", rate);
	return 0;
}
