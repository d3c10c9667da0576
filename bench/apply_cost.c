/*
 * apply_cost.c: the cost of the daemon's work per event, without sockets: decode + validate
 * (decode_message(), daemon/decode.c) and apply (zt_store_apply(), store/apply.c) of N
 * pre-encoded generated events, in batches as the writer gets them, on a scratch store.
 *
 * usage: apply_cost ZONES_CSV N [BATCH]
 * Prints events/s on one core. Under `valgrind --tool=callgrind --toggle-collect=apply_all`
 * only apply_all() and what it calls are counted; bench/callgrind.sh runs two sizes and
 * subtracts, so that what is paid once (the first pages, the registry) drops out and what
 * remains is instructions per event.
 *
 * The store is opened with ZT_STORE_NOSYNC: an fsync costs time, not instructions, and this
 * figure is about instructions; the durable rates are the daemon scenarios' job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchclock.h"

#include "daemon.h"
#include "zonetally.h"

#define DAY 20221111u

/* The input: N events encoded back to back, with their topics. */
struct input {
	uint8_t *buf;
	size_t *off, *len;
	char (*topic)[ZT_TOPIC_LEN + 1];
	size_t n;
};

/* Generates and encodes n events of the synthetic day (time-ordered ids). */
static int
build_input(const struct zt_zone *zones, size_t nz, size_t n, struct input *in)
{
	struct zt_gen_opts go = {
	    .count = n, .seed = 7, .day = DAY, .publisher = "apply-cost", .start_seq = 1};
	struct zt_gen *g;
	struct zt_wire w;
	int r = zt_gen_new(&go, zones, nz, &g);

	if (r < 0)
		return r;
	in->buf = malloc(n * ZT_WIRE_MSG_MAX);
	in->off = calloc(n, sizeof(*in->off));
	in->len = calloc(n, sizeof(*in->len));
	in->topic = calloc(n, sizeof(*in->topic));
	if (in->buf == NULL || in->off == NULL || in->len == NULL || in->topic == NULL) {
		zt_gen_free(g);
		return -ENOMEM;
	}
	size_t at = 0;
	for (in->n = 0; in->n < n && zt_gen_next(g, &w, NULL) == 1; in->n++) {
		in->off[in->n] = at;
		in->len[in->n] = zt_wire_pack(&w, in->buf + at);
		zt_wire_topic(&w, in->topic[in->n]);
		at += in->len[in->n];
	}
	zt_gen_free(g);
	return 0;
}

/*
 * The measured part: every event decoded and validated into a batch entry, as ingest_recv()
 * does, each full batch applied in one transaction, as the writer does. Not inlined, so that
 * callgrind can collect exactly this function and its callees.
 */
__attribute__((noinline)) static int
apply_all(struct zt_store *s, const struct decode_opts *o, const struct input *in,
    struct zt_entry *e, size_t batch, uint64_t *ret_accepted)
{
	struct zt_apply_result res;
	struct zt_apply_opts ao = {.now_ms = now_wall_ms(),
	    .future_tolerance_ms = 300000,
	    .dedup_window_days = 35,
	    .rejects_max = 10000};

	for (size_t i = 0; i < in->n; i += batch) {
		size_t k = in->n - i < batch ? in->n - i : batch;
		for (size_t j = 0; j < k; j++) {
			const uint8_t *p = in->buf + in->off[i + j];
			size_t len = in->len[i + j];
			memset(&e[j], 0, sizeof(e[j]));
			e[j].raw = p;
			e[j].raw_len = (uint32_t)(len < ZT_REJECT_KEEP ? len : ZT_REJECT_KEEP);
			(void)decode_message(
			    o, in->topic[i + j], strlen(in->topic[i + j]), p, len, &e[j], NULL);
		}
		ao.prune_max = 1000 + (uint32_t)k; /* as the writer sets it */
		int r = zt_store_apply(s, e, k, &ao, &res);
		if (r < 0)
			return r;
		*ret_accepted += res.accepted;
	}
	return 0;
}

/* A scratch store in a fresh temporary directory, with the registry. */
static int
open_store(char *dir, const struct zt_zone *zones, size_t nz, struct zt_store **ret)
{
	char path[128];

	if (mkdtemp(dir) == NULL)
		return -errno;
	(void)snprintf(path, sizeof(path), "%s/store", dir);
	if (mkdir(path, 0700) < 0)
		return -errno;
	int r = zt_store_open(path, ZT_STORE_NOSYNC, 0, ret);
	return r < 0 ? r : zt_store_put_zones(*ret, zones, nz);
}

static void
remove_store(const char *dir)
{
	char p[160];

	(void)snprintf(p, sizeof(p), "%s/store/data.mdb", dir);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s/store/lock.mdb", dir);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s/store", dir);
	(void)rmdir(p);
	(void)rmdir(dir);
}

/* Runs the measurement once the inputs are ready; prints the rate. */
static int
run(struct zt_store *s, const struct input *in, size_t batch)
{
	const struct zt_zone *z;
	struct decode_opts o = {.max_message_bytes = 4096, .max_value_fen = 100000000000};
	struct zt_entry *e = calloc(batch, sizeof(*e));

	if (e == NULL)
		return -ENOMEM;
	o.n_zones = zt_store_zones(s, &z);
	o.zones = z;
	uint64_t accepted = 0;
	double t0 = bench_now_s();
	int r = apply_all(s, &o, in, e, batch, &accepted);
	double t = bench_now_s() - t0;
	free(e);
	if (r < 0)
		return r;
	printf("events: %zu in batches of %zu, %llu accepted\n", in->n, batch,
	    (unsigned long long)accepted);
	printf("decode+validate+apply: %.0f [ev/s] (one core, no fsync)\n", (double)in->n / t);
	/* a run that rejects its input measures the wrong path */
	return accepted == in->n ? 0 : -EPROTO;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/zt-apply-cost-XXXXXX";
	struct input in = {0};
	struct zt_zone *zones = NULL;
	struct zt_store *s = NULL;
	char *end = NULL;
	size_t n = argc >= 3 ? strtoul(argv[2], &end, 10) : 0;
	size_t batch = argc == 4 ? strtoul(argv[3], NULL, 10) : 10000;

	if (argc < 3 || argc > 4 || n == 0 || *end != '\0' || batch == 0) {
		fprintf(stderr, "usage: apply_cost ZONES_CSV N [BATCH]\n");
		return 2;
	}
	int nz = zt_registry_load_file(argv[1], &zones, NULL), r = nz;
	if (nz > 0 && (r = build_input(zones, (size_t)nz, n, &in)) == 0 &&
	    (r = open_store(dir, zones, (size_t)nz, &s)) == 0)
		r = run(s, &in, batch);
	zt_store_free(s);
	remove_store(dir);
	free(zones);
	free(in.buf);
	free(in.off);
	free(in.len);
	free(in.topic);
	if (r < 0) {
		fprintf(stderr, "apply_cost: %s\n", zt_strerror(r));
		return 1;
	}
	return 0;
}
