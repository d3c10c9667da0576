/*
 * cmd_rejects.c: `zonetally rejects`: the bounded list of rejected messages the daemon
 * keeps (newest first): when, why, from which publisher and sequence (read back from the
 * kept bytes when they still decode), and the bytes themselves (--raw FILE) so that a
 * customs integrator can see exactly what their system sent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "zonetally.pb-c.h"

#define DEFAULT_LIMIT 20
#define MAX_LIMIT     100000000ul

enum {
	OPT_REASON = 0x200,
	OPT_LIMIT,
	OPT_RAW,
};

struct rej_list {
	struct zt_reject_ctx ctx; /* the registry; the bounds of the time are not kept */
	int reason;               /* -1: any */
	size_t limit;
	size_t n;
	bool json;
	const char *raw_path;
	bool raw_written;
	struct json_object *arr;
	int err;
};

/* Publisher and sequence as the message itself says, when the kept bytes still decode. */
static void
who(const struct zt_reject_rec *r, char *pub, size_t publen, uint64_t *seq)
{
	Zonetally__V1__TradeEvent *m = NULL;

	pub[0] = '\0';
	*seq = 0;
	if (r->kept_len == r->raw_len && r->kept_len > 0)
		m = zonetally__v1__trade_event__unpack(NULL, r->kept_len, r->raw);
	if (m == NULL)
		return;
	if (m->publisher_id != NULL)
		(void)snprintf(pub, publen, "%s", m->publisher_id);
	if (m->has_sequence)
		*seq = m->sequence;
	zonetally__v1__trade_event__free_unpacked(m, NULL);
}

static const struct zt_zone *
zone_of(void *arg, uint32_t code)
{
	return zt_store_zone(arg, code);
}

static void
iso_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		(void)snprintf(out, 32, "?");
		return;
	}
	size_t n = strlen(out);
	(void)snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static struct json_object *
rec_json(const struct zt_reject_rec *r, const char *pub, uint64_t seq, const char *at,
    const char *detail)
{
	struct json_object *o = json_object_new_object();
	char *hex = malloc((size_t)r->kept_len * 2 + 1);

	if (o == NULL || hex == NULL) {
		json_object_put(o);
		free(hex);
		return NULL;
	}
	zt_hex_encode(r->raw, r->kept_len, hex);
	(void)json_object_object_add(o, "seq", json_object_new_uint64(r->seq));
	(void)json_object_object_add(o, "at_ms", json_object_new_int64(r->at_ms));
	(void)json_object_object_add(o, "at", json_object_new_string(at));
	(void)json_object_object_add(
	    o, "reason", json_object_new_string(zt_reject_name(r->reason)));
	(void)json_object_object_add(
	    o, "reason_text", json_object_new_string(zt_reject_text(r->reason)));
	(void)json_object_object_add(
	    o, "detail", detail[0] != '\0' ? json_object_new_string(detail) : NULL);
	(void)json_object_object_add(
	    o, "publisher", pub[0] != '\0' ? json_object_new_string(pub) : NULL);
	(void)json_object_object_add(o, "sequence", seq != 0 ? json_object_new_uint64(seq) : NULL);
	(void)json_object_object_add(o, "raw_len", json_object_new_uint64(r->raw_len));
	(void)json_object_object_add(o, "kept_len", json_object_new_uint64(r->kept_len));
	(void)json_object_object_add(o, "raw_hex", json_object_new_string(hex));
	free(hex);
	return o;
}

/* Writes the kept bytes of the newest listed reject to the --raw file. */
static int
write_raw(struct rej_list *l, const struct zt_reject_rec *r)
{
	FILE *f = fopen(l->raw_path, "we");

	if (f == NULL)
		return -errno;
	size_t n = r->kept_len > 0 ? fwrite(r->raw, 1, r->kept_len, f) : 0;
	int rc = n == r->kept_len ? 0 : -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	l->raw_written = rc == 0;
	return rc;
}

static int
rej_cb(const struct zt_reject_rec *r, void *arg)
{
	struct rej_list *l = arg;
	char pub[ZT_PUBLISHER_MAX + 1], at[32];
	uint64_t seq;

	if (l->reason >= 0 && r->reason != l->reason)
		return 0;
	if (l->n >= l->limit)
		return 1;
	l->n++;
	who(r, pub, sizeof(pub), &seq);
	char det[ZT_REJECT_DETAIL_LEN];
	bool has = zt_reject_detail(
	               r->reason, r->raw, r->raw_len, r->kept_len, &l->ctx, det, sizeof(det)) > 0;
	iso_time(r->at_ms, at);
	if (l->raw_path != NULL && !l->raw_written && (l->err = write_raw(l, r)) < 0)
		return 1;
	if (l->json) {
		struct json_object *o = rec_json(r, pub, seq, at, det);
		if (o == NULL || json_object_array_add(l->arr, o) < 0) {
			json_object_put(o);
			l->err = -ENOMEM;
			return 1;
		}
		return 0;
	}
	(void)printf("#%-8llu %s  %-18s %5u bytes%s  %s%s%s\n", (unsigned long long)r->seq, at,
	    zt_reject_name(r->reason), r->raw_len, r->kept_len < r->raw_len ? " (truncated)" : "",
	    pub[0] != '\0' ? "publisher '" : "", pub, pub[0] != '\0' ? "'" : "");
	if (seq != 0)
		(void)printf("          sequence %llu: %s%s%s\n", (unsigned long long)seq,
		    zt_reject_text(r->reason), has ? ": " : "", has ? det : "");
	else
		(void)printf("          %s%s%s\n", zt_reject_text(r->reason), has ? ": " : "",
		    has ? det : "");
	return 0;
}

static int
reason_of(const char *name)
{
	for (int i = ZT_REJECT_NONE + 1; i < ZT_REJECT__COUNT; i++)
		if (strcmp(name, zt_reject_name(i)) == 0)
			return i;
	return -1;
}

static int
parse_rejects_args(struct cli *c, int argc, char **argv, struct rej_list *l)
{
	static const struct option longopts[] = {
	    {"reason", required_argument, NULL, OPT_REASON},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"raw", required_argument, NULL, OPT_RAW},
	    {"json", no_argument, NULL, OPT_JSON},
	    {NULL, 0, NULL, 0},
	};
	unsigned long v;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_REASON && (l->reason = reason_of(optarg)) < 0)
			return usage_error(c->cmd, "--reason: unknown reason '%s'", optarg);
		if (opt == OPT_LIMIT && (parse_uint(optarg, MAX_LIMIT, &v) < 0 || v == 0))
			return usage_error(
			    c->cmd, "--limit: expected 1..%lu, not '%s'", MAX_LIMIT, optarg);
		if (opt == OPT_LIMIT)
			l->limit = v;
		else if (opt == OPT_RAW)
			l->raw_path = optarg;
		else if (opt == OPT_JSON)
			l->json = c->json = true;
		else if (opt != OPT_REASON)
			return option_error(c, opt, argv);
	}
	if (optind != argc)
		return usage_error(c->cmd, "unexpected operand '%s'", argv[optind]);
	return 0;
}

/* Reads the counters and walks the rejects in one snapshot. */
static int
list_rejects(struct zt_reader *rd, struct rej_list *l, struct zt_counters *k)
{
	struct zt_store *s = zt_reader_store(rd);
	int r = zt_reader_begin(rd);

	if (r < 0)
		return r;
	r = zt_store_counters(s, k);
	if (r >= 0 && !l->json)
		(void)printf("rejects kept %llu, dropped %llu (the oldest, beyond rejects_max); "
		             "newest first:\n",
		    (unsigned long long)k->rejects_kept, (unsigned long long)k->rejects_dropped);
	if (r >= 0)
		r = zt_store_rejects(s, SIZE_MAX, rej_cb, l);
	zt_reader_end(rd);
	if (r == 1)
		r = 0;
	return r < 0 ? r : l->err;
}

int
cmd_rejects(struct cli *c, int argc, char **argv)
{
	struct rej_list l = {.reason = -1, .limit = DEFAULT_LIMIT};
	struct zt_counters k;
	struct zt_reader *rd;
	int r;

	if ((r = parse_rejects_args(c, argc, argv, &l)) != 0)
		return r;
	if (l.json && (l.arr = json_object_new_array()) == NULL)
		return EXIT_FAILURE;
	if ((r = open_reader(c, &rd)) != 0) {
		json_object_put(l.arr);
		return r;
	}
	l.ctx.zone = zone_of;
	l.ctx.zone_arg = zt_reader_store(rd);
	r = list_rejects(rd, &l, &k);
	zt_reader_free(rd);
	if (r < 0) {
		(void)fprintf(stderr, "zonetally rejects: %s\n",
		    l.raw_path != NULL && l.err == r ? strerror(-r) : zt_strerror(r));
		json_object_put(l.arr);
		return EXIT_FAILURE;
	}
	if (!l.json)
		return 0;
	struct json_object *o = json_object_new_object();
	if (o == NULL) {
		json_object_put(l.arr);
		return EXIT_FAILURE;
	}
	(void)json_object_object_add(o, "kept", json_object_new_uint64(k.rejects_kept));
	(void)json_object_object_add(o, "dropped", json_object_new_uint64(k.rejects_dropped));
	(void)json_object_object_add(o, "rejects", l.arr);
	return print_json(o);
}
