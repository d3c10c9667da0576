/*
 * query.c: zt_query_*, the client of a daemon's query socket. A DEALER that sends
 * [empty, QueryRequest] and waits, with a deadline, for the QueryResponse carrying the same
 * request_id (an answer to an earlier, timed-out request is skipped). ZeroMQ reconnects by
 * itself, so a handle outlives a daemon restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "zonetally.h"
#include "zonetally.pb-c.h"

struct zt_query {
	void *ctx;
	void *dealer;
	struct zt_curve_watch *hs; /* the dealer's handshakes, to tell a refusal from silence */
	int timeout_ms;
	uint64_t next_id;
	char feed_endpoint[256];
	char endpoint[256];
	char error[640];
};

int
zt_query_new(const char *endpoint, int timeout_ms, struct zt_query **ret)
{
	return zt_query_new_curve(endpoint, timeout_ms, NULL, ret);
}

int
zt_query_new_curve(
    const char *endpoint, int timeout_ms, const struct zt_curve_keys *curve, struct zt_query **ret)
{
	struct zt_query *q = calloc(1, sizeof(*q));
	int linger = 0;

	if (q == NULL)
		return -ENOMEM;
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	q->next_id = (uint64_t)time(NULL) << 20;
	(void)snprintf(q->endpoint, sizeof(q->endpoint), "%s", endpoint);
	q->ctx = zmq_ctx_new();
	if (q->ctx == NULL || (q->dealer = zmq_socket(q->ctx, ZMQ_DEALER)) == NULL) {
		zt_query_free(q);
		return -ENOMEM;
	}
	(void)zmq_setsockopt(q->dealer, ZMQ_LINGER, &linger, sizeof(linger));
	if (curve != NULL) {
		int r = zt_curve_client(
		    q->dealer, curve->server_key, curve->client_key, q->error, sizeof(q->error));
		if (r < 0) {
			zt_query_free(q);
			return r;
		}
	}
	int r = zt_curve_watch_new(q->ctx, q->dealer, curve != NULL, &q->hs);
	if (r < 0) {
		zt_query_free(q);
		return r;
	}
	if (zmq_connect(q->dealer, endpoint) < 0) {
		r = -errno;
		zt_query_free(q);
		return r;
	}
	*ret = q;
	return 0;
}

struct zt_query *
zt_query_free(struct zt_query *q)
{
	if (q == NULL)
		return NULL;
	q->hs = zt_curve_watch_free(q->hs);
	if (q->dealer != NULL)
		(void)zmq_close(q->dealer);
	if (q->ctx != NULL)
		(void)zmq_ctx_term(q->ctx);
	free(q);
	return NULL;
}

const char *
zt_query_error(const struct zt_query *q)
{
	return q->error;
}

const char *
zt_query_endpoint(const struct zt_query *q)
{
	return q->endpoint;
}

/*
 * Where the daemon's feed is, as it last said: its bind endpoint, with a wildcard host
 * ("*", "0.0.0.0") replaced by the host this handle connects to.
 */
const char *
zt_query_feed_endpoint(const struct zt_query *q)
{
	return q->feed_endpoint;
}

static void
note_feed(struct zt_query *q, const char *feed)
{
	const char *fport = strrchr(feed, ':'), *qport = strrchr(q->endpoint, ':');
	const char *host = strstr(q->endpoint, "://");

	if (fport == NULL || qport == NULL || host == NULL ||
	    (strstr(feed, "://*:") == NULL && strstr(feed, "://0.0.0.0:") == NULL)) {
		(void)snprintf(q->feed_endpoint, sizeof(q->feed_endpoint), "%s", feed);
		return;
	}
	(void)snprintf(q->feed_endpoint, sizeof(q->feed_endpoint), "tcp://%.*s%s",
	    (int)(qport - host - 3), host + 3, fport);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A failed handshake, said in q->error: -ECONNREFUSED; else 0. */
static int
handshake_failed(struct zt_query *q, bool final)
{
	if (zt_curve_watch_failed(q->hs, final, q->error, sizeof(q->error)) == 0)
		return 0;
	return -ECONNREFUSED;
}

/*
 * Waits for the response to id; returns it unpacked (caller frees) or a negative code:
 * -ECONNREFUSED as soon as a handshake fails (q->error says why), -ETIMEDOUT.
 */
static int
await(struct zt_query *q, uint64_t id, Zonetally__V1__QueryResponse **ret)
{
	int64_t deadline = mono_ms() + q->timeout_ms;

	for (;;) {
		int64_t left = deadline - mono_ms();
		zmq_pollitem_t it = {.socket = q->dealer, .events = ZMQ_POLLIN};
		int r = handshake_failed(q, left <= 0);
		if (r < 0)
			return r;
		if (left <= 0)
			return -ETIMEDOUT;
		/* in slices, so that a refused handshake ends the wait early */
		if (zmq_poll(&it, 1, left > 100 ? 100 : (long)left) < 0 && errno != EINTR)
			return -errno;
		if (!(it.revents & ZMQ_POLLIN))
			continue;
		zmq_msg_t m;
		zmq_msg_init(&m);
		int more = 1, n = 0;
		Zonetally__V1__QueryResponse *resp = NULL;
		while (more && zmq_msg_recv(&m, q->dealer, 0) >= 0) {
			more = zmq_msg_more(&m);
			if (!more && n == 1 && resp == NULL)
				resp = zonetally__v1__query_response__unpack(
				    NULL, zmq_msg_size(&m), zmq_msg_data(&m));
			n++;
		}
		zmq_msg_close(&m);
		if (resp != NULL && resp->has_request_id && resp->request_id == id) {
			*ret = resp;
			return 0;
		}
		zonetally__v1__query_response__free_unpacked(resp, NULL);
	}
}

/*
 * Sends req and returns the daemon's answer (caller frees with
 * zonetally__v1__query_response__free_unpacked()). An error reply becomes ZT_E_REMOTE with
 * its text in zt_query_error().
 */
static int
call(struct zt_query *q, Zonetally__V1__QueryRequest *req, Zonetally__V1__QueryResponse **ret)
{
	uint8_t buf[512];
	Zonetally__V1__QueryResponse *resp = NULL;

	req->has_request_id = 1;
	req->request_id = ++q->next_id;
	size_t len = zonetally__v1__query_request__get_packed_size(req);
	if (len > sizeof(buf))
		return -E2BIG;
	(void)zonetally__v1__query_request__pack(req, buf);
	if (zmq_send(q->dealer, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(q->dealer, buf, len, 0) < 0)
		return -errno;
	int r = await(q, req->request_id, &resp);
	if (r < 0 && r != -ECONNREFUSED) {
		(void)snprintf(
		    q->error, sizeof(q->error), "no answer from %s: %s", q->endpoint, strerror(-r));
		return r;
	}
	if (r < 0)
		return r;
	if (resp->feed_endpoint != NULL)
		note_feed(q, resp->feed_endpoint);
	if (resp->error != NULL) {
		(void)snprintf(q->error, sizeof(q->error), "%s", resp->error);
		zonetally__v1__query_response__free_unpacked(resp, NULL);
		return ZT_E_REMOTE;
	}
	*ret = resp;
	return 0;
}

/* Copies a wire block into a C one; out-of-range totals make it ZT_E_CORRUPT. */
static int
block_from(const Zonetally__V1__TotalsBlock *b, struct zt_qblock *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (b->level >= ZT_LEVEL__COUNT || b->granularity >= ZT_GRAN__COUNT)
		return ZT_E_CORRUPT;
	ret->level = (uint8_t)b->level;
	ret->code = b->code;
	ret->period.gran = (uint8_t)b->granularity;
	ret->period.bucket = b->bucket;
	for (size_t i = 0; i < b->n_totals; i++) {
		const Zonetally__V1__Total *t = b->totals[i];
		if (t->direction >= ZT_DIR__COUNT || t->mode >= ZT_MODE__COUNT)
			return ZT_E_CORRUPT;
		ret->b.t[t->direction][t->mode] = (struct zt_totals){.events = t->events,
		    .value_fen = t->value_fen,
		    .items = t->items,
		    .reversals = t->reversals};
	}
	return 0;
}

int
zt_qblock_decode(const void *tb, struct zt_qblock *ret)
{
	return block_from(tb, ret);
}

/* Copies every block of a response into a new array (caller frees). */
static int
blocks_from(const Zonetally__V1__QueryResponse *resp, struct zt_qblock **ret, size_t *ret_n)
{
	struct zt_qblock *v = calloc(resp->n_blocks ? resp->n_blocks : 1, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < resp->n_blocks; i++) {
		int r = block_from(resp->blocks[i], &v[i]);
		if (r < 0) {
			free(v);
			return r;
		}
	}
	*ret = v;
	*ret_n = resp->n_blocks;
	return 0;
}

int
zt_query_get(struct zt_query *q, int level, uint32_t code, const struct zt_period *p,
    struct zt_totals_block *ret, uint64_t *ret_feed_seq)
{
	Zonetally__V1__QueryRequest req = ZONETALLY__V1__QUERY_REQUEST__INIT;
	Zonetally__V1__QueryResponse *resp = NULL;
	struct zt_qblock b;

	req.has_op = req.has_level = req.has_code = req.has_granularity = req.has_bucket = 1;
	req.op = ZONETALLY__V1__QUERY_OP__QUERY_GET;
	req.level = (uint32_t)level;
	req.code = code;
	req.granularity = p->gran;
	req.bucket = p->bucket;
	int r = call(q, &req, &resp);
	if (r < 0)
		return r;
	r = resp->n_blocks == 1 ? block_from(resp->blocks[0], &b) : ZT_E_CORRUPT;
	if (r == 0) {
		*ret = b.b;
		if (ret_feed_seq != NULL)
			*ret_feed_seq = resp->feed_seq;
	}
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	return r;
}

/* top and provinces: a period request answered by a list of blocks. */
static int
period_blocks(struct zt_query *q, Zonetally__V1__QueryRequest *req, const struct zt_period *p,
    struct zt_qblock **ret, size_t *ret_n)
{
	Zonetally__V1__QueryResponse *resp = NULL;

	req->has_op = req->has_granularity = req->has_bucket = 1;
	req->granularity = p->gran;
	req->bucket = p->bucket;
	int r = call(q, req, &resp);
	if (r < 0)
		return r;
	r = blocks_from(resp, ret, ret_n);
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	return r;
}

int
zt_query_top(struct zt_query *q, const struct zt_period *p, int by_direction, uint32_t limit,
    struct zt_qblock **ret, size_t *ret_n)
{
	Zonetally__V1__QueryRequest req = ZONETALLY__V1__QUERY_REQUEST__INIT;

	req.op = ZONETALLY__V1__QUERY_OP__QUERY_TOP;
	req.has_limit = req.has_by_direction = 1;
	req.limit = limit;
	req.by_direction = (uint32_t)by_direction;
	return period_blocks(q, &req, p, ret, ret_n);
}

int
zt_query_provinces(
    struct zt_query *q, const struct zt_period *p, struct zt_qblock **ret, size_t *ret_n)
{
	Zonetally__V1__QueryRequest req = ZONETALLY__V1__QUERY_REQUEST__INIT;

	req.op = ZONETALLY__V1__QUERY_OP__QUERY_PROVINCES;
	return period_blocks(q, &req, p, ret, ret_n);
}

static void
copy_text(char *dst, size_t cap, const char *src)
{
	(void)snprintf(dst, cap, "%s", src != NULL ? src : "");
}

int
zt_query_zones(struct zt_query *q, struct zt_zone **ret, size_t *ret_n)
{
	Zonetally__V1__QueryRequest req = ZONETALLY__V1__QUERY_REQUEST__INIT;
	Zonetally__V1__QueryResponse *resp = NULL;

	req.has_op = 1;
	req.op = ZONETALLY__V1__QUERY_OP__QUERY_ZONES;
	int r = call(q, &req, &resp);
	if (r < 0)
		return r;
	struct zt_zone *v = calloc(resp->n_zones ? resp->n_zones : 1, sizeof(*v));
	if (v == NULL) {
		zonetally__v1__query_response__free_unpacked(resp, NULL);
		return -ENOMEM;
	}
	for (size_t i = 0; i < resp->n_zones; i++) {
		const Zonetally__V1__ZoneInfo *z = resp->zones[i];
		v[i] = (struct zt_zone){.code = z->code,
		    .province = z->province,
		    .approved_year = (uint16_t)z->approved_year,
		    .revoked_year = (uint16_t)z->revoked_year,
		    .batch = (uint8_t)z->batch,
		    .name_check = (uint8_t)z->name_check};
		copy_text(v[i].city_en, sizeof(v[i].city_en), z->city_en);
		copy_text(v[i].city_zh, sizeof(v[i].city_zh), z->city_zh);
		copy_text(v[i].province_en, sizeof(v[i].province_en), z->province_en);
	}
	*ret = v;
	*ret_n = resp->n_zones;
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	return 0;
}

/* The publishers of a stats reply, as the store's struct (caller frees *ret). */
static int
publishers_of(const Zonetally__V1__QueryResponse *resp, struct zt_publisher **ret, size_t *ret_n)
{
	struct zt_publisher *v = calloc(resp->n_publishers ? resp->n_publishers : 1, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < resp->n_publishers; i++) {
		const Zonetally__V1__PublisherInfo *p = resp->publishers[i];
		v[i] = (struct zt_publisher){.last_sequence = p->last_sequence,
		    .received = p->received,
		    .accepted = p->accepted,
		    .duplicates = p->duplicates,
		    .rejected = p->rejected,
		    .gaps = p->gaps,
		    .gap_events = p->gap_events,
		    .late = p->late,
		    .regressions = p->regressions,
		    .last_seen_ms = p->last_seen_ms,
		    .through_sequence = p->through_sequence};
		copy_text(v[i].id, sizeof(v[i].id), p->id);
	}
	*ret = v;
	*ret_n = resp->n_publishers;
	return 0;
}

int
zt_query_stats_publishers(struct zt_query *q, struct zt_counters *ret, uint64_t *ret_map_bytes,
    uint64_t *ret_used_bytes, struct zt_publisher **ret_pubs, size_t *ret_n_pubs)
{
	Zonetally__V1__QueryRequest req = ZONETALLY__V1__QUERY_REQUEST__INIT;
	Zonetally__V1__QueryResponse *resp = NULL;

	req.has_op = 1;
	req.op = ZONETALLY__V1__QUERY_OP__QUERY_STATS;
	int r = call(q, &req, &resp);
	if (r < 0)
		return r;
	const Zonetally__V1__Counters *c = resp->counters;
	if (c == NULL) {
		zonetally__v1__query_response__free_unpacked(resp, NULL);
		return ZT_E_CORRUPT;
	}
	struct zt_counters k = {.received = c->received,
	    .accepted = c->accepted,
	    .duplicates = c->duplicates,
	    .rejected = c->rejected,
	    .commits = c->commits,
	    .feed_seq = resp->feed_seq,
	    .watermark_ms = c->watermark_ms,
	    .dedup_records = c->dedup_records,
	    .rejects_kept = c->rejects_kept,
	    .rejects_dropped = c->rejects_dropped};
	for (size_t i = 0; i < c->n_by_reason && i < ZT_REJECT__COUNT; i++)
		k.by_reason[i] = c->by_reason[i];
	if (ret_pubs != NULL && (r = publishers_of(resp, ret_pubs, ret_n_pubs)) < 0) {
		zonetally__v1__query_response__free_unpacked(resp, NULL);
		return r;
	}
	*ret = k;
	*ret_map_bytes = c->map_bytes;
	*ret_used_bytes = c->used_bytes;
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	return 0;
}

int
zt_query_stats(
    struct zt_query *q, struct zt_counters *ret, uint64_t *ret_map_bytes, uint64_t *ret_used_bytes)
{
	return zt_query_stats_publishers(q, ret, ret_map_bytes, ret_used_bytes, NULL, NULL);
}

int
zt_query_snapshot(struct zt_query *q, const char *prefix, struct zt_snapshot *ret)
{
	Zonetally__V1__QueryRequest req = ZONETALLY__V1__QUERY_REQUEST__INIT;
	Zonetally__V1__QueryResponse *resp = NULL;
	struct zt_snapshot s = {0};

	req.has_op = 1;
	req.op = ZONETALLY__V1__QUERY_OP__QUERY_SNAPSHOT;
	req.prefix = (char *)(uintptr_t)(prefix != NULL ? prefix : "");
	int r = call(q, &req, &resp);
	if (r < 0)
		return r;
	s.feed_seq = resp->feed_seq;
	s.epoch = resp->epoch;
	r = blocks_from(resp, &s.blocks, &s.n_blocks);
	s.topics = calloc(resp->n_topics ? resp->n_topics : 1, sizeof(*s.topics));
	if (r == 0 && s.topics == NULL)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < resp->n_topics; i++) {
		s.topics[i].code = resp->topics[i]->code;
		s.topics[i].seq = resp->topics[i]->seq;
	}
	s.n_topics = resp->n_topics;
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	if (r < 0) {
		zt_snapshot_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void
zt_snapshot_done(struct zt_snapshot *s)
{
	free(s->blocks);
	free(s->topics);
	memset(s, 0, sizeof(*s));
}
