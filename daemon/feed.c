/*
 * feed.c: the live totals feed, a PUB socket. After each commit, for every block (code and
 * period) the commit changed at the current day, month, year and all-time buckets, one
 * TotalsUpdate on topic "tot.<code>" with the new absolute values; every heartbeat_ms a
 * Heartbeat on topic "hb". Each topic carries its own sequence (topic_seq) and the heartbeat
 * lists them all, so a watcher with a topic filter still sees every loss: the messages of
 * one PUB->SUB pipe arrive in order, so a heartbeat naming a higher topic_seq than the last
 * update received means that update was dropped (high-water mark) on the way.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "daemon.h"
#include "zonetally.pb-c.h"

#define TOPIC_LEN          16
#define FEED_SNDBUF        (256 << 10) /* SO_SNDBUF of each watcher's TCP connection */
/* What one queued message costs beyond its body: the topic frame and the body's zmq_msg_t
 * (64 bytes each in the pipe), the body's heap header and the allocator's rounding. */
#define FEED_MSG_OVERHEAD  256
/* The largest TotalsUpdate body: 18 totals of 6 varint fields (at most 48 bytes with their
 * tags, +2 for the total's own tag and length), the block's key and the update's header. */
#define FEED_UPDATE_MAX    (ZT_DIR__COUNT * ZT_MODE__COUNT * 50 + 64 + 64)
#define FEED_TOPIC_SEQ_MAX 20 /* one TopicSeq of a heartbeat: code and seq varints, tags */

static int
code_cmp(const void *a, const void *b)
{
	const struct feed_topic *x = a, *y = b;
	return x->code < y->code ? -1 : x->code > y->code;
}

/* Builds the sorted topic table: the nation, every province, every zone (one per code). */
static int
topics_init(struct feed *f, const struct decode_opts *o)
{
	size_t cap = 1 + 100 + o->n_zones, n = 0;

	f->topics = calloc(cap, sizeof(*f->topics));
	if (f->topics == NULL)
		return -ENOMEM;
	f->topics[n++].code = ZT_NATION_CODE;
	for (uint32_t p = 110000; p <= 990000; p += 10000)
		if (zt_province_name(p, false) != NULL)
			f->topics[n++].code = p;
	for (size_t i = 0; i < o->n_zones; i++)
		f->topics[n++].code = o->zones[i].code;
	qsort(f->topics, n, sizeof(*f->topics), code_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || f->topics[u - 1].code != f->topics[i].code)
			f->topics[u++] = f->topics[i];
	f->n_topics = u;
	return 0;
}

struct feed_topic *
feed_topic(const struct feed *f, uint32_t code)
{
	struct feed_topic key = {.code = code};

	return bsearch(&key, f->topics, f->n_topics, sizeof(key), code_cmp);
}

/* A new epoch per daemon start, so that a watcher tells a restart from a quiet feed. */
static uint64_t
new_epoch(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
	    ((uint64_t)getpid() << 48);
}

/* The largest message the feed sends (bytes, with its queue overhead): an update or the
 * heartbeat, which lists every topic. */
size_t
feed_msg_max(size_t n_topics)
{
	size_t hb = n_topics * FEED_TOPIC_SEQ_MAX + 64;

	return (hb > FEED_UPDATE_MAX ? hb : FEED_UPDATE_MAX) + FEED_MSG_OVERHEAD;
}

/*
 * Bounds what one watcher costs: a send queue of at most watcher_max_bytes (SNDHWM in
 * messages = the bytes over the largest message, at most sndhwm), a fixed SO_SNDBUF, and
 * ZMTP heartbeats that drop a watcher which has not answered within watcher_timeout_ms (a
 * stopped or stuck one: its queue is freed, it reconnects and re-snapshots). The feed's
 * ZAP domain makes the handler count it against max_watchers.
 */
static int
bound_watchers(struct feed *f, const struct zt_config *c)
{
	size_t per = c->feed_watcher_max_bytes / feed_msg_max(f->n_topics);
	/* sndhwm 0 is libzmq's "no limit": the byte bound alone applies */
	if (c->feed_sndhwm != 0 && c->feed_sndhwm < per)
		per = c->feed_sndhwm;
	int hwm = (int)per, sndbuf = FEED_SNDBUF;
	int ivl = (int)c->feed_watcher_timeout_ms / 2, ttl = (int)c->feed_watcher_timeout_ms;

	if (hwm < 1)
		hwm = 1;
	f->sndhwm = (uint32_t)hwm;
	if (zmq_setsockopt(f->pub, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(f->pub, ZMQ_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0 ||
	    zmq_setsockopt(f->pub, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl)) < 0 ||
	    zmq_setsockopt(f->pub, ZMQ_HEARTBEAT_TIMEOUT, &ttl, sizeof(ttl)) < 0 ||
	    zmq_setsockopt(f->pub, ZMQ_TCP_MAXRT, &ttl, sizeof(ttl)) < 0 ||
	    zmq_setsockopt(f->pub, ZMQ_ZAP_DOMAIN, ZT_ZAP_FEED, strlen(ZT_ZAP_FEED)) < 0)
		return -errno;
	return 0;
}

/* Opens the monitor of the feed's connections (accepted, disconnected, with their fds) and
 * hands its reading end to the ZAP handler, which counts them. Before bind: no event lost. */
static int
open_monitor(struct feed *f, void *zctx)
{
	char ep[64];
	int hwm = 100000; /* events waiting between two ZAP requests; none may be dropped */
	void *pair;

	(void)snprintf(ep, sizeof(ep), "inproc://zt-feed-monitor-%p", (void *)f);
	if (zmq_socket_monitor(f->pub, ep, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) < 0)
		return -errno;
	if ((pair = zmq_socket(zctx, ZMQ_PAIR)) == NULL)
		return -errno;
	if (zmq_setsockopt(pair, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 || zmq_connect(pair, ep) < 0) {
		int r = -errno;
		(void)zmq_close(pair);
		return r;
	}
	zap_feed_attach(pair);
	return 0;
}

/*
 * Creates and binds the PUB socket (unless bind is ""), and records the resolved endpoint.
 * @param[in] feed_seq the store's feed_seq at start: the feed continues from it
 * @return 0 or a negative errno (err says which endpoint and why).
 */
int
feed_open(struct feed *f, void *zctx, const struct zt_config *c, const struct decode_opts *o,
    uint64_t feed_seq, char *err, size_t errlen)
{
	int linger = 0;
	size_t len = sizeof(f->bound);

	memset(f, 0, sizeof(*f));
	f->epoch = new_epoch();
	f->last_feed_seq = feed_seq;
	f->heartbeat_ms = c->feed_heartbeat_ms;
	if (pthread_mutex_init(&f->lock, NULL) != 0) {
		(void)snprintf(err, errlen, "feed: cannot create its mutex");
		return -ENOMEM;
	}
	f->lock_ok = true;
	if (topics_init(f, o) < 0) {
		(void)snprintf(err, errlen, "feed: out of memory");
		return -ENOMEM;
	}
	if (c->feed_bind[0] == '\0')
		return 0;
	int r = zap_feed_start(zctx, c->feed_max_watchers, err, errlen);
	if (r < 0)
		return r;
	f->pub = zmq_socket(zctx, ZMQ_PUB);
	if (f->pub == NULL || bound_watchers(f, c) < 0 ||
	    zmq_setsockopt(f->pub, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    curve_server(f->pub, ZT_ZAP_FEED) < 0 || open_monitor(f, zctx) < 0 ||
	    zmq_bind(f->pub, c->feed_bind) < 0 ||
	    zmq_getsockopt(f->pub, ZMQ_LAST_ENDPOINT, f->bound, &len) < 0) {
		r = -errno;
		(void)snprintf(
		    err, errlen, "feed: cannot bind '%s': %s", c->feed_bind, zmq_strerror(errno));
		return r;
	}
	return 0;
}

/* Closes the socket, frees the topic table and the mutex (of a feed or a view). Idempotent. */
void
feed_close(struct feed *f)
{
	if (f->pub != NULL)
		(void)zmq_close(f->pub);
	f->pub = NULL;
	free(f->topics);
	f->topics = NULL;
	f->n_topics = 0;
	if (f->lock_ok)
		(void)pthread_mutex_destroy(&f->lock);
	f->lock_ok = false;
}

/*
 * Makes view another thread's copy of what the query code reads of the feed: the topic
 * codes (their seq 0 until feed_view_sync()), the epoch and the endpoint; no socket.
 * @return 0 or -ENOMEM. @note free the view with feed_close(); f is only read (its codes and
 *     epoch never change after feed_open()).
 */
int
feed_view_init(struct feed *view, const struct feed *f)
{
	memset(view, 0, sizeof(*view));
	view->epoch = f->epoch;
	view->last_feed_seq = f->last_feed_seq;
	(void)snprintf(view->bound, sizeof(view->bound), "%s", f->bound);
	view->topics = calloc(f->n_topics ? f->n_topics : 1, sizeof(*view->topics));
	if (view->topics == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < f->n_topics; i++)
		view->topics[i].code = f->topics[i].code;
	view->n_topics = f->n_topics;
	return 0;
}

/*
 * Copies the live feed's topic sequences and last feed_seq into view, under the feed's
 * mutex, between two publications: every update they count belongs to a commit already in
 * the store. So a read transaction begun after this call sees at least those commits, and a
 * snapshot that pairs them with its totals never names an update its totals lack (it may
 * name fewer: the watcher skips those updates by feed_seq). Any thread; holds the mutex for
 * one copy of the table.
 */
void
feed_view_sync(struct feed *live, struct feed *view)
{
	(void)pthread_mutex_lock(&live->lock);
	for (size_t i = 0; i < view->n_topics && i < live->n_topics; i++)
		view->topics[i].seq = live->topics[i].seq;
	view->last_feed_seq = live->last_feed_seq;
	(void)pthread_mutex_unlock(&live->lock);
}

/* Sends topic + packed message; a watcher beyond its HWM loses it (and will see the gap). */
static int
send_msg(void *pub, const char *topic, const ProtobufCMessage *m)
{
	uint8_t stack[4096];
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = len <= sizeof(stack) ? stack : malloc(len);

	if (buf == NULL)
		return -ENOMEM;
	(void)protobuf_c_message_pack(m, buf);
	int r = 0;
	if (zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(pub, buf, len, ZMQ_DONTWAIT) < 0)
		r = errno == EAGAIN ? 0 : -errno;
	if (buf != stack)
		free(buf);
	return r;
}

/* The block being gathered from the commit's changed keys (which come in key order). */
struct gather {
	struct feed *f;
	uint64_t feed_seq;
	uint32_t cur[ZT_GRAN__COUNT]; /* current bucket of each granularity */
	struct zt_tkey key;           /* of the open block; n == 0: none */
	size_t n;
	Zonetally__V1__Total t[ZT_DIR__COUNT * ZT_MODE__COUNT];
	Zonetally__V1__Total *tp[ZT_DIR__COUNT * ZT_MODE__COUNT];
	int err;
};

/* Publishes the open block, if any. */
static void
flush_block(struct gather *g)
{
	struct feed_topic *ft = feed_topic(g->f, g->key.code);
	char topic[TOPIC_LEN];

	if (g->n == 0 || ft == NULL) {
		g->n = 0;
		return;
	}
	Zonetally__V1__TotalsBlock b = ZONETALLY__V1__TOTALS_BLOCK__INIT;
	Zonetally__V1__TotalsUpdate u = ZONETALLY__V1__TOTALS_UPDATE__INIT;
	b.has_level = b.has_code = b.has_granularity = b.has_bucket = 1;
	b.level = g->key.level;
	b.code = g->key.code;
	b.granularity = g->key.gran;
	b.bucket = g->key.bucket;
	b.n_totals = g->n;
	b.totals = g->tp;
	u.has_feed_seq = u.has_prev_feed_seq = u.has_epoch = u.has_topic_seq = 1;
	u.feed_seq = g->feed_seq;
	u.prev_feed_seq = g->f->last_feed_seq;
	u.epoch = g->f->epoch;
	u.topic_seq = ++ft->seq;
	u.block = &b;
	(void)snprintf(topic, sizeof(topic), "tot.%06u", g->key.code);
	int r = g->f->pub != NULL ? send_msg(g->f->pub, topic, &u.base) : 0;
	if (r < 0 && g->err == 0)
		g->err = r;
	g->f->updates++;
	g->n = 0;
}

static bool
same_block(const struct zt_tkey *a, const struct zt_tkey *b)
{
	return a->level == b->level && a->code == b->code && a->gran == b->gran &&
	    a->bucket == b->bucket;
}

static int
gather_fn(const struct zt_tkey *k, const struct zt_totals *t, void *arg)
{
	struct gather *g = arg;

	if (k->bucket != g->cur[k->gran])
		return 0; /* a late event's past day: not part of the live view */
	if (g->n > 0 && !same_block(&g->key, k))
		flush_block(g);
	g->key = *k;
	sse_push(g->f->sse, g->feed_seq, k, t);
	Zonetally__V1__Total *x = &g->t[g->n];
	*x = (Zonetally__V1__Total)ZONETALLY__V1__TOTAL__INIT;
	x->has_direction = x->has_mode = x->has_events = x->has_value_fen = x->has_items =
	    x->has_reversals = 1;
	x->direction = k->direction;
	x->mode = k->mode;
	x->events = t->events;
	x->value_fen = t->value_fen;
	x->items = t->items;
	x->reversals = t->reversals;
	g->tp[g->n] = x;
	g->n++;
	return 0;
}

/*
 * Publishes what the commit feed_seq changed, read from the writer's store (the writer is
 * idle: the main thread has just collected its batch), on the PUB socket and into the HTTP
 * stream's history (either may be off).
 * @return 0 or a negative errno of the socket (the feed then misses updates; watchers see
 *     the gap and re-snapshot).
 */
int
feed_publish(struct feed *f, const struct zt_store *s, uint64_t feed_seq)
{
	struct gather g = {.f = f, .feed_seq = feed_seq};
	int64_t now = now_wall_ms();

	if ((f->pub == NULL && f->sse == NULL) || feed_seq <= f->last_feed_seq) {
		(void)pthread_mutex_lock(&f->lock);
		f->last_feed_seq = feed_seq > f->last_feed_seq ? feed_seq : f->last_feed_seq;
		(void)pthread_mutex_unlock(&f->lock);
		return 0;
	}
	for (int gr = 0; gr < ZT_GRAN__COUNT; gr++)
		g.cur[gr] = zt_bucket_of(gr, now);
	/* the query thread copies the sequences between two publications, never inside one */
	(void)pthread_mutex_lock(&f->lock);
	int r = zt_store_changed(s, gather_fn, &g);
	flush_block(&g);
	f->last_feed_seq = feed_seq;
	(void)pthread_mutex_unlock(&f->lock);
	sse_commit(f->sse, feed_seq);
	return r < 0 ? r : g.err;
}

/* Returns ms until the next heartbeat is due (0: now), or -1 with no feed. */
int
feed_wait_ms(const struct feed *f, int64_t now_ms)
{
	if (f->pub == NULL)
		return -1;
	int64_t left = f->next_hb_ms - now_ms;
	return left < 0 ? 0 : (int)left;
}

/* Sends the heartbeat if it is due: the latest feed_seq and every topic's topic_seq. */
int
feed_tick(struct feed *f, int64_t now_ms)
{
	if (f->pub == NULL || now_ms < f->next_hb_ms)
		return 0;
	f->next_hb_ms = now_ms + f->heartbeat_ms;
	Zonetally__V1__TopicSeq *ts = calloc(f->n_topics, sizeof(*ts));
	Zonetally__V1__TopicSeq **tp = calloc(f->n_topics, sizeof(*tp));
	if (ts == NULL || tp == NULL) {
		free(ts);
		free(tp);
		return -ENOMEM;
	}
	Zonetally__V1__Heartbeat hb = ZONETALLY__V1__HEARTBEAT__INIT;
	hb.has_feed_seq = hb.has_epoch = 1;
	hb.feed_seq = f->last_feed_seq;
	hb.epoch = f->epoch;
	hb.topics = tp;
	for (size_t i = 0; i < f->n_topics; i++) {
		if (f->topics[i].seq == 0)
			continue;
		ts[hb.n_topics] = (Zonetally__V1__TopicSeq)ZONETALLY__V1__TOPIC_SEQ__INIT;
		ts[hb.n_topics].has_code = ts[hb.n_topics].has_seq = 1;
		ts[hb.n_topics].code = f->topics[i].code;
		ts[hb.n_topics].seq = f->topics[i].seq;
		tp[hb.n_topics] = &ts[hb.n_topics];
		hb.n_topics++;
	}
	int r = send_msg(f->pub, "hb", &hb.base);
	free(ts);
	free(tp);
	return r;
}
