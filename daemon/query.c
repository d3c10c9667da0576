/*
 * query.c: the query socket, a ROUTER answering QueryRequest with QueryResponse: get, top,
 * provinces, zones, stats and snapshot, each read in one LMDB read transaction of a
 * read-only handle shared with the writer's environment. Served by its own thread
 * (query_thread.c), never by the main thread, so that no reader takes the ingest path's
 * time. A snapshot copies the feed's topic sequences (under the feed's mutex) before its
 * read transaction begins: every update they count belongs to a commit the transaction
 * sees. A request that is oversize, malformed or unknown gets an error reply; nothing a
 * client sends can stop the daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "daemon.h"
#include "query_stats.h"
#include "zonetally.pb-c.h"

#define TOP_MAX   100000u /* largest limit a top request may ask */
#define QUERY_HWM 64      /* messages queued per client in the ROUTER, each way */

typedef Zonetally__V1__QueryResponse Resp;
typedef Zonetally__V1__QueryRequest Req;

/* What one response owns; freed by resp_done(). */
struct rbuf {
	Zonetally__V1__TotalsBlock *blocks, **bp;
	Zonetally__V1__Total *totals, **tp;
	size_t nblocks, ntotals, cap_blocks;
	Zonetally__V1__ZoneInfo *zones, **zp;
	Zonetally__V1__TopicSeq *topics, **sp;
	Zonetally__V1__Counters ctr;
	uint64_t *by_reason;
	struct query_pubs pubs; /* stats: the publishers */
	char err[160];
};

static void
rbuf_done(struct rbuf *r)
{
	free(r->blocks);
	free(r->bp);
	free(r->totals);
	free(r->tp);
	free(r->zones);
	free(r->zp);
	free(r->topics);
	free(r->sp);
	free(r->by_reason);
	query_pubs_done(&r->pubs);
}

/* Room for n blocks of up to 18 totals each. */
static int
rbuf_reserve(struct rbuf *r, size_t n)
{
	size_t nt = n * ZT_DIR__COUNT * ZT_MODE__COUNT;

	r->blocks = calloc(n ? n : 1, sizeof(*r->blocks));
	r->bp = calloc(n ? n : 1, sizeof(*r->bp));
	r->totals = calloc(nt ? nt : 1, sizeof(*r->totals));
	r->tp = calloc(nt ? nt : 1, sizeof(*r->tp));
	r->cap_blocks = n;
	return r->blocks && r->bp && r->totals && r->tp ? 0 : -ENOMEM;
}

/* Appends a block (only its non-zero totals) to the response. */
static void
add_block(struct rbuf *r, const struct zt_tkey *k, const struct zt_totals_block *b)
{
	Zonetally__V1__TotalsBlock *x = &r->blocks[r->nblocks];

	*x = (Zonetally__V1__TotalsBlock)ZONETALLY__V1__TOTALS_BLOCK__INIT;
	x->has_level = x->has_code = x->has_granularity = x->has_bucket = 1;
	x->level = k->level;
	x->code = k->code;
	x->granularity = k->gran;
	x->bucket = k->bucket;
	x->totals = &r->tp[r->ntotals];
	for (uint32_t d = 0; d < ZT_DIR__COUNT; d++)
		for (uint32_t m = 0; m < ZT_MODE__COUNT; m++) {
			const struct zt_totals *t = &b->t[d][m];
			if (!t->events && !t->value_fen && !t->items && !t->reversals)
				continue;
			Zonetally__V1__Total *y = &r->totals[r->ntotals];
			*y = (Zonetally__V1__Total)ZONETALLY__V1__TOTAL__INIT;
			y->has_direction = y->has_mode = y->has_events = y->has_value_fen =
			    y->has_items = y->has_reversals = 1;
			y->direction = d;
			y->mode = m;
			y->events = t->events;
			y->value_fen = t->value_fen;
			y->items = t->items;
			y->reversals = t->reversals;
			r->tp[r->ntotals++] = y;
			x->n_totals++;
		}
	r->bp[r->nblocks++] = x;
}

/* Reads one block and appends it. */
static int
read_block(struct query *q, struct rbuf *r, const struct zt_tkey *k)
{
	struct zt_totals_block b;
	int n = zt_store_get_block(q->store, k, &b);

	if (n < 0)
		return n;
	add_block(r, k, &b);
	return 0;
}

static bool
period_ok(uint32_t gran, uint32_t bucket)
{
	switch (gran) {
	case ZT_GRAN_ALL:
		return bucket == 0;
	case ZT_GRAN_YEAR:
		return bucket >= 1 && bucket <= 9999;
	case ZT_GRAN_MONTH:
		return bucket % 100 >= 1 && bucket % 100 <= 12 && bucket / 100 <= 9999;
	case ZT_GRAN_DAY:
		return bucket % 100 >= 1 && bucket % 100 <= 31 && bucket / 100 % 100 >= 1 &&
		    bucket / 100 % 100 <= 12 && bucket / 10000 <= 9999;
	default:
		return false;
	}
}

/*
 * True if level/code names a total the store keeps: the nation is 000000, a province one
 * of the 31 NN0000 codes, a zone a code of the registry (the CLI's and /api/totals' rule).
 */
static bool
names_total(struct zt_store *s, uint32_t level, uint32_t code)
{
	switch (level) {
	case ZT_LEVEL_NATION:
		return code == ZT_NATION_CODE;
	case ZT_LEVEL_PROVINCE:
		return code % 10000 == 0 && zt_province_name(code, false) != NULL;
	default:
		return zt_store_zone(s, code) != NULL;
	}
}

static int
op_get(struct query *q, const Req *rq, struct rbuf *r)
{
	if (!rq->has_level || rq->level >= ZT_LEVEL__COUNT || !rq->has_code || rq->code > 999999 ||
	    !period_ok(rq->granularity, rq->bucket)) {
		(void)snprintf(r->err, sizeof(r->err), "get: bad level, code or period");
		return -EINVAL;
	}
	if (!names_total(q->store, rq->level, rq->code)) {
		(void)snprintf(r->err, sizeof(r->err), "get: level %u code %06u names no total",
		    rq->level, rq->code);
		return -ENOENT;
	}
	struct zt_tkey k = {.level = (uint8_t)rq->level,
	    .code = rq->code,
	    .gran = (uint8_t)rq->granularity,
	    .bucket = rq->bucket};
	if (rbuf_reserve(r, 1) < 0)
		return -ENOMEM;
	return read_block(q, r, &k);
}

/* Ranks by value, then events (both of the requested direction), then code. */
static int
rank_cmp(const void *a, const void *b)
{
	const struct query_rank *x = a, *y = b;

	if (x->value_fen != y->value_fen)
		return x->value_fen > y->value_fen ? -1 : 1;
	if (x->events != y->events)
		return x->events > y->events ? -1 : 1;
	return x->code < y->code ? -1 : x->code > y->code;
}

/* Ranks the zones with anything counted in the period; answers the first `limit`. */
static int
op_top(struct query *q, const Req *rq, struct rbuf *r)
{
	const struct zt_zone *zones;
	size_t nz = zt_store_zones(q->store, &zones), n = 0;
	uint32_t limit = rq->has_limit ? rq->limit : 10;

	if (!period_ok(rq->granularity, rq->bucket) || rq->by_direction >= ZT_DIR__COUNT ||
	    limit == 0 || limit > TOP_MAX) {
		(void)snprintf(r->err, sizeof(r->err), "top: bad period, direction or limit");
		return -EINVAL;
	}
	struct query_rank *v = calloc(nz ? nz : 1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < nz && rc == 0; i++) {
		struct zt_tkey k = {.level = ZT_LEVEL_ZONE,
		    .code = zones[i].code,
		    .gran = (uint8_t)rq->granularity,
		    .bucket = rq->bucket};
		v[n].code = zones[i].code;
		rc = zt_store_get_block(q->store, &k, &v[n].b);
		const struct zt_totals *t = &v[n].b.t[ZT_DIR_ALL][ZT_MODE_ALL];
		/* the sort keys ride in the element: qsort has no argument, and a static one
		 * would race between the query thread and the HTTP threads */
		v[n].value_fen = v[n].b.t[rq->by_direction][ZT_MODE_ALL].value_fen;
		v[n].events = v[n].b.t[rq->by_direction][ZT_MODE_ALL].events;
		if (rc >= 0 && (t->events || t->value_fen || t->items || t->reversals))
			n++;
		rc = rc < 0 ? rc : 0;
	}
	qsort(v, n, sizeof(*v), rank_cmp);
	if (n > limit)
		n = limit;
	if (rc == 0 && (rc = rbuf_reserve(r, n)) == 0)
		for (size_t i = 0; i < n; i++) {
			struct zt_tkey k = {.level = ZT_LEVEL_ZONE,
			    .code = v[i].code,
			    .gran = (uint8_t)rq->granularity,
			    .bucket = rq->bucket};
			add_block(r, &k, &v[i].b);
		}
	free(v);
	return rc;
}

/* Every province's block, then the nation's. */
static int
op_provinces(struct query *q, const Req *rq, struct rbuf *r)
{
	if (!period_ok(rq->granularity, rq->bucket)) {
		(void)snprintf(r->err, sizeof(r->err), "provinces: bad period");
		return -EINVAL;
	}
	if (rbuf_reserve(r, 100) < 0)
		return -ENOMEM;
	struct zt_tkey k = {.gran = (uint8_t)rq->granularity, .bucket = rq->bucket};
	int rc = 0;
	for (uint32_t p = 110000; p <= 990000 && rc == 0; p += 10000)
		if (zt_province_name(p, false) != NULL) {
			k.level = ZT_LEVEL_PROVINCE;
			k.code = p;
			rc = read_block(q, r, &k);
		}
	k.level = ZT_LEVEL_NATION;
	k.code = ZT_NATION_CODE;
	return rc < 0 ? rc : read_block(q, r, &k);
}

static int
op_zones(struct query *q, Resp *resp, struct rbuf *r)
{
	const struct zt_zone *z;
	size_t n = zt_store_zones(q->store, &z);

	r->zones = calloc(n ? n : 1, sizeof(*r->zones));
	r->zp = calloc(n ? n : 1, sizeof(*r->zp));
	if (r->zones == NULL || r->zp == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		Zonetally__V1__ZoneInfo *x = &r->zones[i];
		*x = (Zonetally__V1__ZoneInfo)ZONETALLY__V1__ZONE_INFO__INIT;
		x->has_code = x->has_province = x->has_batch = x->has_approved_year =
		    x->has_revoked_year = x->has_name_check = 1;
		x->code = z[i].code;
		x->province = z[i].province;
		x->city_en = (char *)(uintptr_t)z[i].city_en;
		x->city_zh = (char *)(uintptr_t)z[i].city_zh;
		x->province_en = (char *)(uintptr_t)z[i].province_en;
		x->batch = z[i].batch;
		x->approved_year = z[i].approved_year;
		x->revoked_year = z[i].revoked_year;
		x->name_check = z[i].name_check;
		r->zp[i] = x;
	}
	resp->zones = r->zp;
	resp->n_zones = n;
	return 0;
}

static int
op_stats(struct query *q, Resp *resp, struct rbuf *r)
{
	struct zt_counters c;
	uint64_t map = 0, used = 0;
	int rc = zt_store_counters(q->store, &c);

	if (rc < 0 || (rc = zt_store_size(q->store, &map, &used)) < 0 ||
	    (rc = query_pubs_read(q->store, &r->pubs)) < 0)
		return rc;
	r->by_reason = calloc(ZT_REJECT__COUNT, sizeof(*r->by_reason));
	if (r->by_reason == NULL)
		return -ENOMEM;
	memcpy(r->by_reason, c.by_reason, sizeof(c.by_reason));
	r->ctr = (Zonetally__V1__Counters)ZONETALLY__V1__COUNTERS__INIT;
	r->ctr.has_received = r->ctr.has_accepted = r->ctr.has_duplicates = r->ctr.has_rejected =
	    r->ctr.has_commits = r->ctr.has_watermark_ms = r->ctr.has_dedup_records =
	        r->ctr.has_map_bytes = r->ctr.has_used_bytes = r->ctr.has_rejects_kept =
	            r->ctr.has_rejects_dropped = 1;
	r->ctr.received = c.received;
	r->ctr.accepted = c.accepted;
	r->ctr.duplicates = c.duplicates;
	r->ctr.rejected = c.rejected;
	r->ctr.commits = c.commits;
	r->ctr.watermark_ms = c.watermark_ms;
	r->ctr.dedup_records = c.dedup_records;
	r->ctr.map_bytes = map;
	r->ctr.used_bytes = used;
	r->ctr.rejects_kept = c.rejects_kept;
	r->ctr.rejects_dropped = c.rejects_dropped;
	r->ctr.by_reason = r->by_reason;
	r->ctr.n_by_reason = ZT_REJECT__COUNT;
	resp->counters = &r->ctr;
	resp->publishers = r->pubs.pp;
	resp->n_publishers = r->pubs.n;
	return 0;
}

/* True if the 6-digit text of code starts with prefix. */
static bool
prefix_match(const char *prefix, uint32_t code)
{
	char text[8];

	(void)snprintf(text, sizeof(text), "%06u", code);
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Adds the current day/month/year/all blocks of one code at one level. */
static int
snap_code(struct query *q, struct rbuf *r, uint8_t level, uint32_t code, const uint32_t *cur)
{
	for (uint8_t g = 0; g < ZT_GRAN__COUNT; g++) {
		struct zt_tkey k = {.level = level, .code = code, .gran = g, .bucket = cur[g]};
		int rc = read_block(q, r, &k);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The current-period blocks of every code matching the prefix, and their topic_seq. */
static int
op_snapshot(struct query *q, const Req *rq, Resp *resp, struct rbuf *r)
{
	const char *prefix = rq->prefix != NULL ? rq->prefix : "";
	size_t plen = strlen(prefix), n = 0;
	const struct feed *f = q->feed;
	uint32_t cur[ZT_GRAN__COUNT];
	int64_t now = now_wall_ms();

	for (size_t i = 0; i < plen; i++)
		if (prefix[i] < '0' || prefix[i] > '9' || i >= 6) {
			(void)snprintf(
			    r->err, sizeof(r->err), "snapshot: prefix must be 0-6 digits");
			return -EINVAL;
		}
	for (int g = 0; g < ZT_GRAN__COUNT; g++)
		cur[g] = zt_bucket_of(g, now);
	r->topics = calloc(f->n_topics ? f->n_topics : 1, sizeof(*r->topics));
	r->sp = calloc(f->n_topics ? f->n_topics : 1, sizeof(*r->sp));
	if (r->topics == NULL || r->sp == NULL || rbuf_reserve(r, 2 * f->n_topics * 4) < 0)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < f->n_topics && rc == 0; i++) {
		uint32_t code = f->topics[i].code;
		if (!prefix_match(prefix, code))
			continue;
		if (code == ZT_NATION_CODE)
			rc = snap_code(q, r, ZT_LEVEL_NATION, code, cur);
		if (rc == 0 && code != ZT_NATION_CODE && code % 10000 == 0 &&
		    zt_province_name(code, false) != NULL)
			rc = snap_code(q, r, ZT_LEVEL_PROVINCE, code, cur);
		if (rc == 0 && zt_store_zone(q->store, code) != NULL)
			rc = snap_code(q, r, ZT_LEVEL_ZONE, code, cur);
		Zonetally__V1__TopicSeq *t = &r->topics[n];
		*t = (Zonetally__V1__TopicSeq)ZONETALLY__V1__TOPIC_SEQ__INIT;
		t->has_code = t->has_seq = 1;
		t->code = code;
		t->seq = f->topics[i].seq;
		r->sp[n++] = t;
	}
	resp->topics = r->sp;
	resp->n_topics = n;
	return rc;
}

/* Answers a decoded request inside one read transaction. */
static int
answer(struct query *q, const Req *rq, Resp *resp, struct rbuf *r)
{
	struct zt_counters c;

	/* before the transaction: the sequences must never run ahead of the totals it sees */
	if (q->live != NULL && rq->op == ZONETALLY__V1__QUERY_OP__QUERY_SNAPSHOT)
		feed_view_sync(q->live, &q->view);
	int rc = zt_store_read_begin(q->store);

	if (rc < 0)
		return rc;
	if ((rc = zt_store_counters(q->store, &c)) == 0) {
		resp->has_feed_seq = 1;
		resp->feed_seq = c.feed_seq;
		switch (rq->op) {
		case ZONETALLY__V1__QUERY_OP__QUERY_GET:
			rc = op_get(q, rq, r);
			break;
		case ZONETALLY__V1__QUERY_OP__QUERY_TOP:
			rc = op_top(q, rq, r);
			break;
		case ZONETALLY__V1__QUERY_OP__QUERY_PROVINCES:
			rc = op_provinces(q, rq, r);
			break;
		case ZONETALLY__V1__QUERY_OP__QUERY_ZONES:
			rc = op_zones(q, resp, r);
			break;
		case ZONETALLY__V1__QUERY_OP__QUERY_STATS:
			rc = op_stats(q, resp, r);
			break;
		case ZONETALLY__V1__QUERY_OP__QUERY_SNAPSHOT:
			rc = op_snapshot(q, rq, resp, r);
			break;
		default:
			(void)snprintf(r->err, sizeof(r->err), "unknown op %d", (int)rq->op);
			rc = -EINVAL;
		}
	}
	zt_store_read_end(q->store);
	resp->blocks = r->bp;
	resp->n_blocks = r->nblocks;
	return rc;
}

/* Packs resp into a new buffer. @return it (caller frees) or NULL when out of memory. */
static uint8_t *
pack(const Resp *resp, size_t *ret_len)
{
	size_t n = zonetally__v1__query_response__get_packed_size(resp);
	uint8_t *out = malloc(n ? n : 1);

	if (out != NULL)
		*ret_len = zonetally__v1__query_response__pack(resp, out);
	return out;
}

/* The reply that says only `text`, echoing the request's id (has_id false: none known). */
static uint8_t *
error_reply(struct query *q, bool has_id, uint64_t id, const char *text, size_t *ret_len)
{
	Resp e = ZONETALLY__V1__QUERY_RESPONSE__INIT;

	e.has_request_id = has_id;
	e.request_id = id;
	e.error = (char *)(uintptr_t)text;
	e.has_epoch = 1;
	e.epoch = q->feed->epoch;
	e.feed_endpoint = (char *)(uintptr_t)q->feed->bound;
	q->errors++;
	return pack(&e, ret_len);
}

/* Decodes body into *ret, or says in err why it cannot. */
static Req *
decode(const struct query *q, const void *body, size_t len, char *err, size_t errlen)
{
	Req *rq = NULL;

	if (body == NULL)
		(void)snprintf(err, errlen, "malformed request: expected one body frame");
	else if (len > q->max_request)
		(void)snprintf(err, errlen, "request of %zu bytes exceeds %u", len, q->max_request);
	else if ((rq = zonetally__v1__query_request__unpack(NULL, len, body)) == NULL)
		(void)snprintf(err, errlen, "malformed request: not a QueryRequest");
	return rq;
}

/*
 * Decodes, answers and packs one request body (NULL: the envelope had no single body).
 * Exported for the fuzz target, which drives it without a socket, and for the HTTP threads.
 * @param[out] ret_len the reply's length, set only when a reply is returned
 * @return the packed QueryResponse (caller frees), or NULL when out of memory.
 * @note one caller at a time per q: it owns q's store handle and feed view.
 */
uint8_t *
query_handle(struct query *q, const void *body, size_t len, size_t *ret_len)
{
	Resp resp = ZONETALLY__V1__QUERY_RESPONSE__INIT;
	struct rbuf r = {0};
	Req *rq = decode(q, body, len, r.err, sizeof(r.err));
	uint8_t *out;

	resp.has_epoch = 1;
	resp.epoch = q->feed->epoch;
	resp.feed_endpoint = (char *)(uintptr_t)q->feed->bound;
	if (rq != NULL) {
		resp.has_request_id = rq->has_request_id;
		resp.request_id = rq->request_id;
		int rc = answer(q, rq, &resp, &r);
		if (rc < 0 && r.err[0] == '\0')
			(void)snprintf(r.err, sizeof(r.err), "%s", zt_strerror(rc));
	}
	if (r.err[0] != '\0')
		out = error_reply(q, resp.has_request_id, resp.request_id, r.err, ret_len);
	else
		out = pack(&resp, ret_len);
	zonetally__v1__query_request__free_unpacked(rq, NULL);
	rbuf_done(&r);
	q->served++;
	return out;
}

/*
 * The reply that refuses a request with `text` (QUERY_BUSY_TEXT) without reading the
 * store; it echoes the request's id when the body decodes, so that the client matches it.
 * @return the packed QueryResponse (caller frees), or NULL when out of memory.
 */
uint8_t *
query_error_reply(struct query *q, const void *body, size_t len, const char *text, size_t *ret_len)
{
	char err[160];
	Req *rq = decode(q, body, len, err, sizeof(err));
	uint8_t *out = error_reply(q, rq != NULL && rq->has_request_id,
	    rq != NULL ? rq->request_id : 0, rq != NULL ? text : err, ret_len);

	zonetally__v1__query_request__free_unpacked(rq, NULL);
	return out;
}

/*
 * Binds the ROUTER (unless bind is "") and opens a read-only handle on the owner's store,
 * and a view of the feed f for the query thread. ZMQ_MAXMSGSIZE is far above
 * max_request_bytes: an oversize request gets an error reply, only an absurd one is cut off
 * by the socket. QUERY_HWM bounds what one client holds in the socket each way.
 * @param[in] f the main thread's feed: its codes and epoch are copied, its topic_seq read
 *     under its mutex by each snapshot; it must outlive query_close()
 * @return 0 or a negative errno (err says why).
 */
int
query_open(struct query *q, void *zctx, const struct zt_config *c, struct zt_store *owner,
    struct feed *f, char *err, size_t errlen)
{
	int linger = 0, hwm = QUERY_HWM;
	int64_t maxsize = (int64_t)c->query_max_request_bytes * 16 + 65536;
	size_t len = sizeof(q->bound);

	/* a 1 MiB request gets its reasoned error reply, not a silent disconnect */
	if (maxsize < ZT_SOCKET_MSG_FLOOR)
		maxsize = ZT_SOCKET_MSG_FLOOR;
	memset(q, 0, sizeof(*q));
	q->stop_pipe[0] = q->stop_pipe[1] = -1;
	q->max_request = c->query_max_request_bytes;
	query_limits(q, c);
	q->live = f;
	q->feed = &q->view;
	int r = feed_view_init(&q->view, f);
	if (r < 0) {
		(void)snprintf(err, errlen, "query: out of memory");
		return r;
	}
	if (c->query_bind[0] == '\0')
		return 0;
	if ((r = zt_store_open_shared(owner, &q->store)) < 0) {
		(void)snprintf(err, errlen, "query: %s", zt_strerror(r));
		return r;
	}
	q->router = zmq_socket(zctx, ZMQ_ROUTER);
	if (q->router == NULL ||
	    zmq_setsockopt(q->router, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(q->router, ZMQ_MAXMSGSIZE, &maxsize, sizeof(maxsize)) < 0 ||
	    zmq_setsockopt(q->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(q->router, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
	    curve_server(q->router, ZT_ZAP_READERS) < 0 || zmq_bind(q->router, c->query_bind) < 0 ||
	    zmq_getsockopt(q->router, ZMQ_LAST_ENDPOINT, q->bound, &len) < 0) {
		r = -errno;
		(void)snprintf(
		    err, errlen, "query: cannot bind '%s': %s", c->query_bind, zmq_strerror(errno));
		return r;
	}
	return 0;
}

/* Stops the thread (if started), closes the socket, the store handle and the view.
 * Idempotent; call before feed_close() of the feed given to query_open(). */
void
query_close(struct query *q)
{
	query_stop(q);
	if (q->router != NULL)
		(void)zmq_close(q->router);
	q->router = NULL;
	q->store = zt_store_free(q->store);
	feed_close(&q->view);
}
