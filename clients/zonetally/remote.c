/*
 * remote.c: the read commands' other source: the query sockets of --connect, one per shard.
 * Answers are merged the way the store would hold them for one daemon: a block of the same
 * code and period is summed over shards (zones are split between shards, so a zone's
 * block comes from one of them and province and nation roll-ups add up), the registries
 * are united, the counters add up; `top` re-ranks the union.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define QUERY_TIMEOUT_MS 10000
#define TOP_ALL          100000u

struct remote {
	struct zt_query *q[ZT_CLI_MAX_CONNECT];
	size_t n;
	struct zt_zone *zones; /* union of the shards' registries, sorted by code */
	size_t n_zones;
};

static int
zone_cmp(const void *a, const void *b)
{
	const struct zt_zone *x = a, *y = b;
	return x->code < y->code ? -1 : x->code > y->code;
}

/* Appends a shard's registry to the union (duplicates are dropped after sorting). */
static int
add_zones(struct remote *rm, struct zt_query *q)
{
	struct zt_zone *z;
	size_t n;
	int r = zt_query_zones(q, &z, &n);

	if (r < 0)
		return r;
	struct zt_zone *nz = realloc(rm->zones, (rm->n_zones + n + 1) * sizeof(*nz));
	if (nz == NULL) {
		free(z);
		return -ENOMEM;
	}
	memcpy(nz + rm->n_zones, z, n * sizeof(*z));
	free(z);
	rm->zones = nz;
	rm->n_zones += n;
	qsort(rm->zones, rm->n_zones, sizeof(*rm->zones), zone_cmp);
	size_t u = 0;
	for (size_t i = 0; i < rm->n_zones; i++)
		if (u == 0 || rm->zones[u - 1].code != rm->zones[i].code)
			rm->zones[u++] = rm->zones[i];
	rm->n_zones = u;
	return 0;
}

static void
report(const struct cli *c, const struct zt_query *q, int r)
{
	(void)fprintf(stderr, "zonetally %s: %s: %s\n", c->cmd, zt_query_endpoint(q),
	    r == ZT_E_REMOTE || r == -ETIMEDOUT || r == -ECONNREFUSED ? zt_query_error(q)
	                                                              : zt_strerror(r));
}

struct remote *
remote_free(struct remote *rm)
{
	if (rm == NULL)
		return NULL;
	for (size_t i = 0; i < rm->n; i++)
		zt_query_free(rm->q[i]);
	free(rm->zones);
	free(rm);
	return NULL;
}

/* Connects to every --connect endpoint and fetches the registries. Returns 0 or an exit
 * status (the error is printed). */
int
remote_open(const struct cli *c, struct remote **ret)
{
	struct remote *rm = calloc(1, sizeof(*rm));

	if (rm == NULL)
		return EXIT_FAILURE;
	for (size_t i = 0; i < c->n_connect; i++) {
		int r =
		    zt_query_new_curve(c->connect[i], QUERY_TIMEOUT_MS, c->curve, &rm->q[rm->n]);
		if (r < 0) {
			(void)fprintf(stderr, "zonetally %s: --connect '%s': %s\n", c->cmd,
			    c->connect[i], zt_strerror(r));
			remote_free(rm);
			return EXIT_FAILURE;
		}
		rm->n++;
		if ((r = add_zones(rm, rm->q[i])) < 0) {
			report(c, rm->q[i], r);
			remote_free(rm);
			return EXIT_FAILURE;
		}
	}
	*ret = rm;
	return 0;
}

size_t
remote_zones(const struct remote *rm, const struct zt_zone **ret)
{
	*ret = rm->zones;
	return rm->n_zones;
}

static const struct zt_zone *
find_zone(const struct remote *rm, uint32_t code)
{
	struct zt_zone key = {.code = code};

	return bsearch(&key, rm->zones, rm->n_zones, sizeof(key), zone_cmp);
}

/* The level rule of zt_reader_resolve(), on the united registry. */
int
remote_resolve(const struct remote *rm, uint32_t code, bool force_province, struct zt_target *ret)
{
	return zt_target_of(find_zone(rm, code), code, force_province, ret);
}

static void
block_add(struct zt_totals_block *to, const struct zt_totals_block *from)
{
	for (int d = 0; d < ZT_DIR__COUNT; d++)
		for (int m = 0; m < ZT_MODE__COUNT; m++) {
			to->t[d][m].events += from->t[d][m].events;
			to->t[d][m].value_fen += from->t[d][m].value_fen;
			to->t[d][m].items += from->t[d][m].items;
			to->t[d][m].reversals += from->t[d][m].reversals;
		}
}

/* One block, summed over the shards. Returns 0 or an exit status. */
int
remote_get(const struct cli *c, struct remote *rm, int level, uint32_t code,
    const struct zt_period *p, struct zt_totals_block *ret)
{
	struct zt_totals_block sum, b;

	memset(&sum, 0, sizeof(sum));
	for (size_t i = 0; i < rm->n; i++) {
		int r = zt_query_get(rm->q[i], level, code, p, &b, NULL);
		if (r < 0) {
			report(c, rm->q[i], r);
			return EXIT_FAILURE;
		}
		block_add(&sum, &b);
	}
	*ret = sum;
	return 0;
}

/*
 * Every touched zone's block of the period, summed over shards by code, in ret[] (sized
 * for the registry); the caller ranks. Returns 0 or an exit status.
 */
int
remote_zone_blocks(const struct cli *c, struct remote *rm, const struct zt_period *p,
    struct remote_zone *ret, size_t *ret_n)
{
	size_t n = 0;

	for (size_t i = 0; i < rm->n; i++) {
		struct zt_qblock *v;
		size_t nv;
		int r = zt_query_top(rm->q[i], p, ZT_DIR_ALL, TOP_ALL, &v, &nv);
		if (r < 0) {
			report(c, rm->q[i], r);
			return EXIT_FAILURE;
		}
		for (size_t k = 0; k < nv; k++) {
			const struct zt_zone *z = find_zone(rm, v[k].code);
			size_t j = 0;
			while (j < n && ret[j].z != z)
				j++;
			if (z == NULL || (j == n && n == rm->n_zones))
				continue;
			if (j == n) {
				memset(&ret[n], 0, sizeof(ret[n]));
				ret[n++].z = z;
			}
			block_add(&ret[j].b, &v[k].b);
		}
		free(v);
	}
	*ret_n = n;
	return 0;
}

/* The counters and store sizes, added over shards. Returns 0 or an exit status. */
/* Appends a shard's publishers to *v (each shard's in turn). */
static int
append_pubs(struct zt_publisher **v, size_t *n, struct zt_publisher *add, size_t n_add)
{
	struct zt_publisher *nv = realloc(*v, (*n + n_add + 1) * sizeof(*nv));

	if (nv == NULL) {
		free(add);
		return -ENOMEM;
	}
	memcpy(nv + *n, add, n_add * sizeof(*nv));
	free(add);
	*v = nv;
	*n += n_add;
	return 0;
}

static void
add_counters(struct zt_counters *sum, const struct zt_counters *k)
{
	sum->received += k->received;
	sum->accepted += k->accepted;
	sum->duplicates += k->duplicates;
	sum->rejected += k->rejected;
	for (int j = 0; j < ZT_REJECT__COUNT; j++)
		sum->by_reason[j] += k->by_reason[j];
	sum->commits += k->commits;
	sum->feed_seq += k->feed_seq;
	sum->dedup_records += k->dedup_records;
	sum->rejects_kept += k->rejects_kept;
	sum->rejects_dropped += k->rejects_dropped;
	sum->watermark_ms =
	    k->watermark_ms > sum->watermark_ms ? k->watermark_ms : sum->watermark_ms;
}

int
remote_stats(const struct cli *c, struct remote *rm, struct zt_counters *ret, uint64_t *ret_map,
    uint64_t *ret_used, struct zt_publisher **ret_pubs, size_t *ret_n_pubs)
{
	struct zt_counters sum = {0}, k;
	struct zt_publisher *pubs = NULL, *add;
	uint64_t map = 0, used = 0, m, u;
	size_t n_pubs = 0, n_add;

	for (size_t i = 0; i < rm->n; i++) {
		int r = zt_query_stats_publishers(rm->q[i], &k, &m, &u, &add, &n_add);
		if (r == 0)
			r = append_pubs(&pubs, &n_pubs, add, n_add);
		if (r < 0) {
			report(c, rm->q[i], r);
			free(pubs);
			return EXIT_FAILURE;
		}
		add_counters(&sum, &k);
		map += m;
		used += u;
	}
	*ret = sum;
	*ret_map = map;
	*ret_used = used;
	*ret_pubs = pubs;
	*ret_n_pubs = n_pubs;
	return 0;
}
