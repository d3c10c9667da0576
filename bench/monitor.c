/*
 * monitor.c: the monitoring-side benchmarks, libzmq-perf style (positional arguments,
 * units in brackets, the raw ceiling in the same run):
 *   monitor reader STATE_DIR N      zt_reader_total() latency beside a raw mdb_get() [ns]
 *   monitor remote QUERY_EP N       zt_query_get() round trip over the query socket [us]
 *   monitor feed SUB_EP QUERY_EP N  one event published -> its TotalsUpdate received [ms]
 * The feed figure includes the daemon's batch wait (batch max_ms) and the fsync of the
 * commit: it is what a watcher sees. Percentiles over N samples; no warm-up is counted.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "benchclock.h"

#include "zonetally.h"

static void
report(const char *what, int64_t *v, size_t n, double div, const char *unit)
{
	qsort(v, n, sizeof(*v), bench_cmp_i64);
	printf("%-40s p50 %10.2f  p99 %10.2f  p999 %10.2f  [%s]  (%zu samples)\n", what,
	    (double)v[n / 2] / div, (double)v[n * 99 / 100] / div, (double)v[n * 999 / 1000] / div,
	    unit, n);
}

/* The keys measured: every zone's today total, both directions, all modes. */
static size_t
keys_of(struct zt_reader *r, struct zt_tkey *k, size_t cap)
{
	const struct zt_zone *z;
	size_t nz = zt_reader_zones(r, &z), n = 0;
	struct zt_period p = zt_period_day_of((int64_t)time(NULL) * 1000);

	for (size_t i = 0; i < nz && n < cap; i++)
		k[n++] = (struct zt_tkey){.level = ZT_LEVEL_ZONE,
		    .code = z[i].code,
		    .gran = p.gran,
		    .bucket = p.bucket,
		    .direction = ZT_DIR_ALL,
		    .mode = ZT_MODE_ALL};
	return n;
}

static int
bench_reader(const char *dir, size_t n)
{
	struct zt_tkey keys[512];
	struct zt_reader *r;
	struct zt_totals t;
	int64_t *v = calloc(n, sizeof(*v));
	int e = zt_reader_open(dir, &r);

	if (e < 0 || v == NULL) {
		fprintf(stderr, "monitor: %s: %s\n", dir, zt_strerror(e));
		return 1;
	}
	size_t nk = keys_of(r, keys, 512);
	for (size_t i = 0; i < n; i++) {
		const struct zt_tkey *k = &keys[i % nk];
		struct zt_period p = {.gran = k->gran, .bucket = k->bucket};
		int64_t t0 = bench_now_ns();
		(void)zt_reader_total(r, k->level, k->code, &p, k->direction, k->mode, &t);
		v[i] = bench_now_ns() - t0;
	}
	zt_reader_free(r); /* LMDB: one open of an environment per process at a time */
	report("zt_reader_total (txn renew+get+reset)", v, n, 1.0, "ns");

	/* the ceiling: the same lookups straight on LMDB, same renew/get/reset pattern */
	char path[4096];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	(void)snprintf(path, sizeof(path), "%s/store", dir);
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
	    mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0644) ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_dbi_open(txn, "totals", 0, &dbi) ||
	    mdb_txn_commit(txn) || mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) {
		fprintf(stderr, "monitor: raw LMDB open failed\n");
		return 1;
	}
	mdb_txn_reset(txn);
	size_t found = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t kb[ZT_TKEY_LEN];
		zt_tkey_encode(&keys[i % nk], kb);
		MDB_val key = {sizeof(kb), kb}, val;
		int64_t t0 = bench_now_ns();
		int rc = mdb_txn_renew(txn);
		if (rc == 0)
			rc = mdb_get(txn, dbi, &key, &val);
		mdb_txn_reset(txn);
		v[i] = bench_now_ns() - t0;
		found += rc == 0;
	}
	if (found == 0) {
		fprintf(stderr, "monitor: raw mdb_get found nothing: no totals today?\n");
		return 1;
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	report("raw mdb_get (txn renew+get+reset)", v, n, 1.0, "ns");
	free(v);
	return 0;
}

static int
bench_remote(const char *ep, size_t n)
{
	struct zt_query *q;
	struct zt_totals_block b;
	struct zt_period p = zt_period_day_of((int64_t)time(NULL) * 1000);
	int64_t *v = calloc(n, sizeof(*v));

	if (v == NULL || zt_query_new(ep, 5000, &q) < 0)
		return 1;
	(void)zt_query_get(q, ZT_LEVEL_NATION, 0, &p, &b, NULL); /* connect first */
	for (size_t i = 0; i < n; i++) {
		int64_t t0 = bench_now_ns();
		int e = zt_query_get(q, ZT_LEVEL_ZONE, 330100, &p, &b, NULL);
		v[i] = bench_now_ns() - t0;
		if (e < 0) {
			fprintf(stderr, "monitor: %s\n", zt_query_error(q));
			return 1;
		}
	}
	zt_query_free(q);
	report("remote get round trip (query socket)", v, n, 1000.0, "us");
	free(v);
	return 0;
}

/* One valid declaration for Hangzhou, now, with a fresh id and the next sequence. */
static size_t
one_event(uint64_t seq, uint8_t *buf, char topic[ZT_TOPIC_LEN + 1])
{
	struct zt_wire w;
	struct timespec ts;
	uint8_t rnd[10];

	memset(&w, 0, sizeof(w));
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(seq >> (i % 8 * 8) ^ (uint64_t)ts.tv_nsec >> i);
	w.has = ZT_W_ZONE | ZT_W_DIRECTION | ZT_W_MODE | ZT_W_VALUE | ZT_W_ITEMS | ZT_W_TIME;
	w.zone = 330100;
	w.direction = ZT_DIR_EXPORT;
	w.mode = ZT_MODE_9610;
	w.value_fen = 12345;
	w.items = 1;
	w.declared_at_ms = ms;
	uint64_t next = seq;
	zt_wire_complete(&w, "bench-monitor", &next, rnd);
	zt_wire_topic(&w, topic);
	return zt_wire_pack(&w, buf);
}

static int
bench_feed(const char *sub_ep, const char *query_ep, size_t n)
{
	void *ctx = zmq_ctx_new(), *pub = zmq_socket(ctx, ZMQ_PUB), *sub = zmq_socket(ctx, ZMQ_SUB);
	struct zt_query *q;
	int64_t *v = calloc(n, sizeof(*v));
	uint8_t buf[ZT_WIRE_MSG_MAX], rx[65536];
	char topic[ZT_TOPIC_LEN + 1];

	if (v == NULL || zt_query_new(query_ep, 5000, &q) < 0)
		return 1;
	struct zt_counters c;
	uint64_t m, u;
	if (zt_query_stats(q, &c, &m, &u) < 0 || zmq_connect(pub, sub_ep) < 0 ||
	    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "tot.330100", 10) < 0 ||
	    zmq_connect(sub, zt_query_feed_endpoint(q)) < 0) {
		fprintf(stderr, "monitor: cannot reach the daemon\n");
		return 1;
	}
	uint64_t seq = (uint64_t)time(NULL) * 1000;
	for (size_t i = 0; i < n + 20; i++) {
		size_t len = one_event(++seq, buf, topic);
		int64_t t0 = bench_now_ns();
		(void)zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
		(void)zmq_send(pub, buf, len, 0);
		zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
		if (zmq_poll(&it, 1, 2000) <= 0) {
			i--; /* the first sends race the subscriptions: retry */
			continue;
		}
		int64_t t1 = bench_now_ns();
		/* all blocks of the commit (day, month, year, all), then measure the next one */
		while (
		    zmq_recv(sub, rx, sizeof(rx), ZMQ_DONTWAIT) >= 0 || (zmq_poll(&it, 1, 20) > 0))
			;
		if (i >= 20)
			v[i - 20] = t1 - t0;
	}
	report("feed: publish -> TotalsUpdate received", v, n, 1e6, "ms");
	zt_query_free(q);
	(void)zmq_close(pub);
	(void)zmq_close(sub);
	(void)zmq_ctx_term(ctx);
	free(v);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "reader") == 0)
		return bench_reader(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "remote") == 0)
		return bench_remote(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "feed") == 0)
		return bench_feed(argv[2], argv[3], strtoul(argv[4], NULL, 10));
	fprintf(stderr,
	    "usage: monitor reader STATE_DIR N | remote QUERY_EP N | "
	    "feed SUB_EP QUERY_EP N\n");
	return 2;
}
