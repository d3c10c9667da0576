/*
 * web_stream.c: GET /api/stream, Server-Sent Events for the dashboard. A new stream starts
 * with a `snapshot` event (every non-zero current day/month/year/all block, read in one
 * transaction by the query code, id = its feed_seq), then one `update` event per
 * TotalsUpdate the feed publishes after it, and a `stats` event every second (counters, for
 * the events/s figure). A browser that reconnects sends Last-Event-ID and resumes right
 * after the last event it received when the history still holds what follows, else it
 * gets a fresh snapshot. Update ids: "N" for the last update of commit N, "N.K" for the
 * K-th of a longer commit, so a cut in the middle of a commit resumes at the next one.
 *
 * Each stream runs on its own libmicrohttpd connection thread: the content callback waits
 * there for the next commit (never on the main thread, which only appends to the history
 * under a short mutex). A stream that falls a whole history behind, or that the client
 * stops reading for the connection timeout, is dropped; at most WEB_MAX_STREAMS are open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "web_int.h"

#define BATCH          64    /* records copied out of the history per wake-up */
#define STATS_EVERY_MS 1000  /* also the longest silence: it keeps proxies and timeouts calm */
#define CHUNK          16384 /* libmicrohttpd's buffer per callback */
#define RETRY_MS       2000  /* the browser's reconnection delay */

/* One open stream; owned by libmicrohttpd's response, freed in stream_free(). */
struct stream {
	struct web *w;
	uint64_t pos;          /* next history record */
	uint64_t skip_through; /* records of commits the snapshot already holds */
	int gran;              /* the only granularity sent, or -1 for all */
	bool started;
	char last_id[48]; /* Last-Event-ID, copied: the request's strings die with it */
	int64_t next_stats_ms;
	struct sbuf out; /* formatted events not yet handed to libmicrohttpd */
	size_t off;
	struct sse_rec recs[BATCH];
};

/* Appends one event: optional id, type, and one line of JSON (o taken; NULL: no data). */
static void
emit(struct sbuf *b, const char *id, const char *type, struct json_object *o)
{
	if (id != NULL)
		sb_printf(b, "id: %s\n", id);
	if (o != NULL) {
		sb_printf(b, "event: %s\ndata: %s\n", type,
		    json_object_to_json_string_ext(
		        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
	sb_append(b, "\n", 1);
}

/* The JSON of one block with only the directions in mask: zt_fmt_block_json + feed_seq. */
static struct json_object *
block_json(const struct web *w, const struct zt_tkey *k, const struct zt_totals_block *b,
    unsigned mask, uint64_t feed_seq)
{
	struct zt_target t;
	struct zt_period p = {.gran = k->gran, .bucket = k->bucket};

	if (web_target(w, k->level, k->code, &t) < 0)
		return NULL;
	struct json_object *o = zt_fmt_block_json(&t, &p, b, mask);
	if (o != NULL && feed_seq != 0 &&
	    json_object_object_add(o, "feed_seq", json_object_new_uint64(feed_seq)) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static bool
block_empty(const struct zt_totals_block *b)
{
	static const struct zt_totals zero;

	for (int d = 0; d < ZT_DIR__COUNT; d++)
		if (memcmp(&b->t[d][ZT_MODE_ALL], &zero, sizeof(zero)) != 0)
			return false;
	return true;
}

/* The snapshot's "blocks": the non-empty ones of the stream's granularity. */
static struct json_object *
snapshot_blocks(const struct stream *st, const Zonetally__V1__QueryResponse *resp)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a != NULL && i < resp->n_blocks; i++) {
		struct zt_qblock qb;
		if (zt_qblock_decode(resp->blocks[i], &qb) < 0 || block_empty(&qb.b) ||
		    (st->gran >= 0 && qb.period.gran != st->gran))
			continue;
		struct zt_tkey k = {.level = qb.level,
		    .code = qb.code,
		    .gran = qb.period.gran,
		    .bucket = qb.period.bucket};
		struct json_object *o = block_json(st->w, &k, &qb.b, ZT_FMT_DIRS_ALL, 0);
		if (o == NULL || json_object_array_add(a, o) < 0) {
			json_object_put(o);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* Sends the snapshot and places the cursor after it. @return 0 or a negative errno. */
static int
start_snapshot(struct stream *st)
{
	Zonetally__V1__QueryRequest rq = ZONETALLY__V1__QUERY_REQUEST__INIT;
	Zonetally__V1__QueryResponse *resp = NULL;
	char err[160], id[32];

	rq.has_op = 1;
	rq.op = ZONETALLY__V1__QUERY_OP__QUERY_SNAPSHOT;
	rq.prefix = (char *)(uintptr_t) "";
	int r = web_ask(st->w, &rq, &resp, err, sizeof(err));
	if (r < 0)
		return r;
	uint64_t seq = resp->feed_seq;
	struct json_object *o = json_object_new_object(), *blocks = snapshot_blocks(st, resp);
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	if (o == NULL || blocks == NULL ||
	    json_object_object_add(o, "feed_seq", json_object_new_uint64(seq)) < 0 ||
	    json_object_object_add(o, "blocks", blocks) < 0) {
		json_object_put(blocks);
		json_object_put(o);
		return -ENOMEM;
	}
	/* the history must still hold every record after seq, or the snapshot is useless */
	if ((r = sse_after_snapshot(st->w->sse, seq, &st->pos)) < 0) {
		json_object_put(o);
		return r;
	}
	st->skip_through = seq;
	(void)snprintf(id, sizeof(id), "%llu", (unsigned long long)seq);
	emit(&st->out, id, "snapshot", o);
	return 0;
}

/* The first call: "retry:", then a resume where Last-Event-ID allows it, else a snapshot. */
static int
stream_start(struct stream *st)
{
	sb_printf(&st->out, "retry: %d\n\n", RETRY_MS);
	st->started = true;
	if (st->last_id[0] != '\0' && sse_resume(st->w->sse, st->last_id, &st->pos) == 0)
		return 0;
	return start_snapshot(st);
}

/* Appends one update; a filtered one still moves the browser's id with an empty event. */
static void
emit_update(struct stream *st, const struct sse_rec *r)
{
	char id[48];

	if (r->feed_seq <= st->skip_through)
		return;
	if (r->last)
		(void)snprintf(id, sizeof(id), "%llu", (unsigned long long)r->feed_seq);
	else
		(void)snprintf(
		    id, sizeof(id), "%llu.%u", (unsigned long long)r->feed_seq, r->index);
	if (st->gran >= 0 && r->key.gran != st->gran) {
		if (r->last)
			emit(&st->out, id, NULL, NULL);
		return;
	}
	struct zt_totals_block b = {0};
	for (int d = 0; d < ZT_DIR__COUNT; d++)
		b.t[d][ZT_MODE_ALL] = r->t[d];
	struct json_object *o = block_json(st->w, &r->key, &b, r->dirs, r->feed_seq);
	if (o == NULL)
		st->out.oom = true;
	else
		emit(&st->out, id, "update", o);
}

/* Appends the counters since the store was created: the page derives events/s from them. */
static int
emit_stats(struct stream *st)
{
	Zonetally__V1__QueryRequest rq = ZONETALLY__V1__QUERY_REQUEST__INIT;
	Zonetally__V1__QueryResponse *resp = NULL;
	char err[160];

	rq.has_op = 1;
	rq.op = ZONETALLY__V1__QUERY_OP__QUERY_STATS;
	int r = web_ask(st->w, &rq, &resp, err, sizeof(err));
	if (r < 0)
		return r;
	const Zonetally__V1__Counters *c = resp->counters;
	struct json_object *o = json_object_new_object();
	if (o == NULL || c == NULL ||
	    json_object_object_add(o, "feed_seq", json_object_new_uint64(resp->feed_seq)) < 0 ||
	    json_object_object_add(o, "received", json_object_new_uint64(c->received)) < 0 ||
	    json_object_object_add(o, "accepted", json_object_new_uint64(c->accepted)) < 0 ||
	    json_object_object_add(o, "duplicates", json_object_new_uint64(c->duplicates)) < 0 ||
	    json_object_object_add(o, "rejected", json_object_new_uint64(c->rejected)) < 0 ||
	    json_object_object_add(o, "at_ms", json_object_new_int64(now_wall_ms())) < 0) {
		json_object_put(o);
		zonetally__v1__query_response__free_unpacked(resp, NULL);
		return -ENOMEM;
	}
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	emit(&st->out, NULL, "stats", o);
	return 0;
}

/* Formats the next events into st->out, waiting up to a second for a commit. */
static int
stream_fill(struct stream *st)
{
	if (!st->started)
		return stream_start(st);
	int64_t now = now_monotonic_ms();
	int wait = st->next_stats_ms > now ? (int)(st->next_stats_ms - now) : 0;
	int n = sse_read(st->w->sse, &st->pos, st->recs, BATCH, wait);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		emit_update(st, &st->recs[i]);
	if (now_monotonic_ms() >= st->next_stats_ms) {
		st->next_stats_ms = now_monotonic_ms() + STATS_EVERY_MS;
		int r = emit_stats(st);
		if (r < 0)
			return r;
	}
	return st->out.oom ? -ENOMEM : 0;
}

/* libmicrohttpd's content callback: blocks this connection's thread until there is text. */
static ssize_t
stream_read(void *cls, uint64_t at, char *buf, size_t max)
{
	struct stream *st = cls;

	(void)at;
	while (st->off == st->out.len) {
		st->out.len = st->off = 0;
		int r = stream_fill(st);
		if (r == -ESHUTDOWN)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (r < 0) /* fell behind, out of memory, store error: the browser reconnects */
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	size_t n = st->out.len - st->off < max ? st->out.len - st->off : max;
	memcpy(buf, st->out.p + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

static void
stream_free(void *cls)
{
	struct stream *st = cls;

	(void)pthread_mutex_lock(&st->w->mu);
	st->w->streams--;
	(void)pthread_mutex_unlock(&st->w->mu);
	sb_done(&st->out);
	free(st);
}

/* ?gran=day|month|year|all: the only granularity the stream carries. @return 0 or -EINVAL. */
static int
gran_arg(const char *s, int *ret)
{
	*ret = -1;
	if (s == NULL)
		return 0;
	for (int g = 0; g < ZT_GRAN__COUNT; g++)
		if (strcmp(s, zt_gran_name(g)) == 0) {
			*ret = g;
			return 0;
		}
	return -EINVAL;
}

/* Takes a stream slot. @return true if one was free. */
static bool
take_slot(struct web *w)
{
	(void)pthread_mutex_lock(&w->mu);
	bool ok = w->streams < WEB_MAX_STREAMS;
	w->streams += ok;
	(void)pthread_mutex_unlock(&w->mu);
	if (!ok)
		(void)atomic_fetch_add(&w->refused_streams, 1);
	return ok;
}

/* GET /api/stream[?gran=G]: an event stream until the client or the daemon leaves. */
int
api_stream(struct web *w, struct MHD_Connection *conn)
{
	const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
	struct stream *st = calloc(1, sizeof(*st));
	int gran;

	if (st == NULL)
		return web_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	if (gran_arg(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "gran"), &gran) < 0) {
		free(st);
		return web_error(
		    conn, MHD_HTTP_BAD_REQUEST, "gran: expected day, month, year or all");
	}
	if (!take_slot(w)) {
		free(st);
		return web_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "too many streams open");
	}
	*st = (struct stream){.w = w, .gran = gran, .next_stats_ms = now_monotonic_ms()};
	if (id != NULL && strlen(id) < sizeof(st->last_id)) /* longer: no id of ours */
		memcpy(st->last_id, id, strlen(id) + 1);
	struct MHD_Response *r = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, CHUNK, stream_read, st, stream_free);
	if (r == NULL) {
		stream_free(st);
		return MHD_NO;
	}
	int ret = MHD_NO;
	if (web_headers(r, "text/event-stream; charset=utf-8", "no-store") == 0)
		ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}
