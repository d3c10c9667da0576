/*
 * cmd_stats.c: `zonetally stats`, the daemon's counters as committed: messages by outcome,
 * rejections by reason, commits, feed sequence, watermark, store size and publishers.
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

#define MAX_PUBLISHERS 4096 /* shown at most; a store with more is misconfigured anyway */

struct pubs {
	struct zt_publisher *v;
	size_t n;
};

static int
pub_cb(const struct zt_publisher *p, void *arg)
{
	struct pubs *ps = arg;

	if (ps->n >= MAX_PUBLISHERS)
		return 1;
	ps->v[ps->n++] = *p;
	return 0;
}

static int
add_u64(struct json_object *o, const char *key, uint64_t v)
{
	return json_object_object_add(o, key, json_object_new_uint64(v));
}

static struct json_object *
publisher_json(const struct zt_publisher *p)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL || json_object_object_add(o, "id", json_object_new_string(p->id)) < 0 ||
	    add_u64(o, "last_sequence", p->last_sequence) < 0 ||
	    add_u64(o, "received", p->received) < 0 || add_u64(o, "accepted", p->accepted) < 0 ||
	    add_u64(o, "duplicates", p->duplicates) < 0 ||
	    add_u64(o, "rejected", p->rejected) < 0 || add_u64(o, "gaps", p->gaps) < 0 ||
	    add_u64(o, "gap_events", p->gap_events) < 0 || add_u64(o, "late", p->late) < 0 ||
	    add_u64(o, "regressions", p->regressions) < 0 ||
	    add_u64(o, "through_sequence", p->through_sequence) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "by_reason", "store" and "publishers" of the stats object. */
static int
stats_parts(struct json_object *o, const struct zt_counters *k, uint64_t map, uint64_t used,
    const struct pubs *ps)
{
	struct json_object *br = json_object_new_object(), *st = json_object_new_object();
	struct json_object *pa = json_object_new_array();
	int r = br != NULL && st != NULL && pa != NULL ? 0 : -1;

	for (int i = ZT_REJECT_NONE + 1; i < ZT_REJECT__COUNT && r == 0; i++)
		r = add_u64(br, zt_reject_name(i), k->by_reason[i]);
	if (r == 0)
		r = add_u64(st, "map_bytes", map) < 0 || add_u64(st, "used_bytes", used) < 0 ? -1
		                                                                             : 0;
	for (size_t i = 0; i < ps->n && r == 0; i++) {
		struct json_object *p = publisher_json(&ps->v[i]);
		if (p == NULL || json_object_array_add(pa, p) < 0) {
			json_object_put(p);
			r = -1;
		}
	}
	if (r < 0) {
		json_object_put(br);
		json_object_put(st);
		json_object_put(pa);
		return -1;
	}
	(void)json_object_object_add(o, "by_reason", br);
	(void)json_object_object_add(o, "commits", json_object_new_uint64(k->commits));
	(void)json_object_object_add(o, "feed_seq", json_object_new_uint64(k->feed_seq));
	(void)json_object_object_add(o, "watermark_ms", json_object_new_int64(k->watermark_ms));
	(void)add_u64(o, "dedup_records", k->dedup_records);
	(void)add_u64(o, "rejects_kept", k->rejects_kept);
	(void)add_u64(o, "rejects_dropped", k->rejects_dropped);
	/* the invariant every commit keeps; false would mean a message went unaccounted */
	(void)json_object_object_add(o, "balanced",
	    json_object_new_boolean(k->received == k->accepted + k->duplicates + k->rejected));
	(void)json_object_object_add(o, "store", st);
	(void)json_object_object_add(o, "publishers", pa);
	return 0;
}

static struct json_object *
stats_json(const struct zt_counters *k, uint64_t map, uint64_t used, const struct pubs *ps)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL || add_u64(o, "received", k->received) < 0 ||
	    add_u64(o, "accepted", k->accepted) < 0 ||
	    add_u64(o, "duplicates", k->duplicates) < 0 ||
	    add_u64(o, "rejected", k->rejected) < 0 || stats_parts(o, k, map, used, ps) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static void
line(const char *label, uint64_t v)
{
	char n[ZT_YUAN_LEN];

	(void)zt_fmt_ucount(v, n);
	cell(label, 16, false);
	cell(n, 16, true);
	(void)putchar('\n');
}

static void
stats_text(const struct zt_counters *k, uint64_t map, uint64_t used, const struct pubs *ps)
{
	char wm[32] = "none";

	line("received", k->received);
	line("accepted", k->accepted);
	line("duplicates", k->duplicates);
	line("rejected", k->rejected);
	(void)printf("%-16s %s\n", "balanced",
	    k->received == k->accepted + k->duplicates + k->rejected
	        ? "yes (received = accepted + duplicates + rejected)"
	        : "NO: received != accepted + duplicates + rejected");
	for (int i = ZT_REJECT_NONE + 1; i < ZT_REJECT__COUNT; i++)
		if (k->by_reason[i] != 0) {
			char n[ZT_YUAN_LEN];
			(void)zt_fmt_count((int64_t)k->by_reason[i], n);
			(void)printf("  %-22s %15s  %s\n", zt_reject_name(i), n, zt_reject_text(i));
		}
	line("commits", k->commits);
	line("feed_seq", k->feed_seq);
	line("dedup_records", k->dedup_records);
	line("rejects_kept", k->rejects_kept);
	line("rejects_dropped", k->rejects_dropped);
	if (k->watermark_ms != 0) {
		struct zt_period p = zt_period_day_of(k->watermark_ms);
		char day[16];
		(void)zt_period_format(&p, day, sizeof(day));
		(void)snprintf(wm, sizeof(wm), "%lld (%s CST)", (long long)k->watermark_ms, day);
	}
	(void)printf("%-16s %s\n", "watermark_ms", wm);
	(void)printf("%-16s %llu MiB used of %llu MiB\n", "store", (unsigned long long)(used >> 20),
	    (unsigned long long)(map >> 20));
	(void)printf("\npublishers: %zu\n", ps->n);
	for (size_t i = 0; i < ps->n; i++) {
		const struct zt_publisher *p = &ps->v[i];
		(void)printf(
		    "  %s: last_sequence %llu, received %llu, accepted %llu, duplicates %llu, "
		    "rejected %llu, gaps %llu (%llu events), late %llu, regressions %llu, "
		    "acked through %llu\n",
		    p->id, (unsigned long long)p->last_sequence, (unsigned long long)p->received,
		    (unsigned long long)p->accepted, (unsigned long long)p->duplicates,
		    (unsigned long long)p->rejected, (unsigned long long)p->gaps,
		    (unsigned long long)p->gap_events, (unsigned long long)p->late,
		    (unsigned long long)p->regressions, (unsigned long long)p->through_sequence);
	}
}

/* Reads counters, size and publishers in one snapshot. */
static int
read_stats(
    struct zt_reader *rd, struct zt_counters *k, uint64_t *map, uint64_t *used, struct pubs *ps)
{
	struct zt_store *s = zt_reader_store(rd);
	int r;

	if ((ps->v = calloc(MAX_PUBLISHERS, sizeof(*ps->v))) == NULL)
		return -ENOMEM;
	if ((r = zt_reader_begin(rd)) < 0)
		return r;
	r = zt_store_counters(s, k);
	if (r >= 0)
		r = zt_store_size(s, map, used);
	if (r >= 0)
		r = zt_store_publishers(s, pub_cb, ps);
	zt_reader_end(rd);
	return r < 0 ? r : 0;
}

int
cmd_stats(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, OPT_JSON}, {NULL, 0, NULL, 0}};
	struct zt_counters k;
	struct pubs ps = {0};
	struct zt_reader *rd;
	uint64_t map = 0, used = 0;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != OPT_JSON)
			return option_error(c, opt, argv);
		c->json = true;
	}
	if (optind != argc)
		return usage_error(c->cmd, "unexpected operand '%s'", argv[optind]);
	if (c->n_connect > 0) {
		/* several shards: each shard's publishers in turn */
		struct remote *rm;
		if ((r = remote_open(c, &rm)) != 0)
			return r;
		r = remote_stats(c, rm, &k, &map, &used, &ps.v, &ps.n);
		remote_free(rm);
		if (r != 0)
			return r;
	} else {
		if ((r = open_reader(c, &rd)) != 0)
			return r;
		r = read_stats(rd, &k, &map, &used, &ps);
		zt_reader_free(rd);
	}
	if (r < 0) {
		(void)fprintf(stderr, "zonetally stats: %s\n", zt_strerror(r));
		free(ps.v);
		return EXIT_FAILURE;
	}
	if (c->json)
		r = print_json(stats_json(&k, map, used, &ps));
	else
		stats_text(&k, map, used, &ps);
	free(ps.v);
	return r;
}
