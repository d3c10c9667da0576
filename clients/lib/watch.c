/*
 * watch.c: zt_watch_*, the live view of one or more daemons (shards): the ZeroMQ Guide's
 * Clone pattern with its subscribe/snapshot race closed. Per shard: subscribe to the
 * feed first ("tot.<prefix>" topics, then "hb" last, so that a heartbeat received proves
 * every subscription live), wait for a heartbeat, take a snapshot through the query
 * socket, skip the updates it already contains (feed_seq <= the snapshot's), apply the
 * rest. Each feed topic numbers its updates (topic_seq) and every heartbeat lists those
 * numbers, so any loss (high-water mark, restart: a new epoch) is seen, and answered by a
 * fresh snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "zonetally.h"
#include "zonetally.pb-c.h"

#define BURST     4096 /* messages handled per shard and poll */
#define HB_WINDOW 4    /* heartbeat intervals the period estimate looks at */
#define HB_DEFAULT_MS                                                              \
	1000 /* period assumed before two heartbeats ([feed] heartbeat_ms default) \
	      */

enum sstate {
	S_WAIT_HB = 0, /* subscribed; the next heartbeat triggers a snapshot */
	S_SYNCED,
};

struct tseq {
	uint32_t code;
	uint64_t seq;
};

struct shard {
	struct zt_query *q;
	void *sub;
	int state; /* enum sstate */
	uint64_t epoch;
	uint64_t snap_feed_seq;
	uint64_t feed_seq; /* newest commit reflected */
	struct tseq *topics;
	size_t n_topics;
	size_t cap_topics;
	struct zt_qblock *blocks; /* sorted by key */
	size_t n_blocks;
	size_t cap_blocks;
	int64_t last_hb_ms;           /* monotonic: the last heartbeat, or the connect */
	int64_t intervals[HB_WINDOW]; /* between the last heartbeats, 0: none yet */
	unsigned n_hb;                /* heartbeats received */
};

struct zt_watch {
	void *ctx;
	struct shard *shards;
	size_t n_shards;
	char (*prefixes)[8];
	size_t n_prefixes;
	struct zt_watch_stats st;
	struct zt_qblock merged;
};

static int
bkey_cmp(const struct zt_qblock *a, const struct zt_qblock *b)
{
	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	if (a->code != b->code)
		return a->code < b->code ? -1 : 1;
	if (a->period.gran != b->period.gran)
		return a->period.gran < b->period.gran ? -1 : 1;
	return a->period.bucket < b->period.bucket ? -1 : a->period.bucket > b->period.bucket;
}

/* Finds the block with b's key; with insert, adds an empty one where it belongs. */
static struct zt_qblock *
find_block(struct shard *s, const struct zt_qblock *b, bool insert)
{
	size_t lo = 0, hi = s->n_blocks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bkey_cmp(&s->blocks[mid], b);
		if (c == 0)
			return &s->blocks[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!insert)
		return NULL;
	if (s->n_blocks == s->cap_blocks) {
		size_t nc = s->cap_blocks ? s->cap_blocks * 2 : 256;
		struct zt_qblock *nb = realloc(s->blocks, nc * sizeof(*nb));
		if (nb == NULL)
			return NULL;
		s->blocks = nb;
		s->cap_blocks = nc;
	}
	memmove(&s->blocks[lo + 1], &s->blocks[lo], (s->n_blocks - lo) * sizeof(*s->blocks));
	s->n_blocks++;
	memset(&s->blocks[lo], 0, sizeof(*s->blocks));
	s->blocks[lo].level = b->level;
	s->blocks[lo].code = b->code;
	s->blocks[lo].period = b->period;
	return &s->blocks[lo];
}

static struct tseq *
find_topic(struct shard *s, uint32_t code, bool insert)
{
	size_t lo = 0, hi = s->n_topics;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->topics[mid].code == code)
			return &s->topics[mid];
		if (s->topics[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!insert)
		return NULL;
	if (s->n_topics == s->cap_topics) {
		size_t nc = s->cap_topics ? s->cap_topics * 2 : 256;
		struct tseq *nt = realloc(s->topics, nc * sizeof(*nt));
		if (nt == NULL)
			return NULL;
		s->topics = nt;
		s->cap_topics = nc;
	}
	memmove(&s->topics[lo + 1], &s->topics[lo], (s->n_topics - lo) * sizeof(*s->topics));
	s->n_topics++;
	s->topics[lo] = (struct tseq){.code = code};
	return &s->topics[lo];
}

static bool
watched(const struct zt_watch *w, uint32_t code)
{
	char text[8];

	if (w->n_prefixes == 0)
		return true;
	(void)snprintf(text, sizeof(text), "%06u", code);
	for (size_t i = 0; i < w->n_prefixes; i++)
		if (strncmp(text, w->prefixes[i], strlen(w->prefixes[i])) == 0)
			return true;
	return false;
}

/* The sum over shards of the block with b's key, in w->merged. */
static const struct zt_qblock *
merge(struct zt_watch *w, const struct zt_qblock *key)
{
	struct zt_qblock *m = &w->merged;

	memset(m, 0, sizeof(*m));
	m->level = key->level;
	m->code = key->code;
	m->period = key->period;
	for (size_t i = 0; i < w->n_shards; i++) {
		const struct zt_qblock *b = find_block(&w->shards[i], key, false);
		if (b == NULL)
			continue;
		for (int d = 0; d < ZT_DIR__COUNT; d++)
			for (int mo = 0; mo < ZT_MODE__COUNT; mo++) {
				struct zt_totals *x = &m->b.t[d][mo];
				const struct zt_totals *y = &b->b.t[d][mo];
				x->events += y->events;
				x->value_fen += y->value_fen;
				x->items += y->items;
				x->reversals += y->reversals;
			}
	}
	return m;
}

int
zt_watch_get(struct zt_watch *w, int level, uint32_t code, const struct zt_period *p,
    struct zt_totals_block *ret)
{
	struct zt_qblock key = {.level = (uint8_t)level, .code = code, .period = *p};
	bool any = false;

	for (size_t i = 0; i < w->n_shards; i++)
		any = any || find_block(&w->shards[i], &key, false) != NULL;
	if (!any)
		return -ENOENT;
	*ret = merge(w, &key)->b;
	return 0;
}

/* Replaces the shard's view with a fresh snapshot; reports every block of it. */
static int
snapshot(struct zt_watch *w, size_t i, zt_watch_cb cb, void *arg)
{
	struct shard *s = &w->shards[i];
	struct zt_snapshot snap;
	char prefix[8] = "";

	/* one prefix: ask for it; several: ask for everything and keep the watched codes */
	if (w->n_prefixes == 1)
		(void)snprintf(prefix, sizeof(prefix), "%s", w->prefixes[0]);
	int r = zt_query_snapshot(s->q, prefix, &snap);
	if (r < 0) {
		s->state = S_WAIT_HB;
		return r;
	}
	s->n_blocks = 0;
	s->n_topics = 0;
	for (size_t k = 0; k < snap.n_topics && r == 0; k++) {
		struct tseq *t = find_topic(s, snap.topics[k].code, true);
		if (t == NULL)
			r = -ENOMEM;
		else
			t->seq = snap.topics[k].seq;
	}
	for (size_t k = 0; k < snap.n_blocks && r == 0; k++) {
		if (!watched(w, snap.blocks[k].code))
			continue;
		struct zt_qblock *b = find_block(s, &snap.blocks[k], true);
		if (b == NULL)
			r = -ENOMEM;
		else
			*b = snap.blocks[k];
	}
	s->epoch = snap.epoch;
	s->snap_feed_seq = s->feed_seq = snap.feed_seq;
	s->state = r == 0 ? S_SYNCED : S_WAIT_HB;
	w->st.snapshots++;
	for (size_t k = 0; k < snap.n_blocks && r == 0 && cb != NULL; k++) {
		if (!watched(w, snap.blocks[k].code))
			continue;
		struct zt_watch_event ev = {.kind = ZT_WATCH_SNAPSHOT,
		    .shard = i,
		    .feed_seq = snap.feed_seq,
		    .block = merge(w, &snap.blocks[k])};
		r = cb(&ev, arg);
	}
	zt_snapshot_done(&snap);
	return r;
}

/* A loss was seen: snapshot again now (the subscription is live), or at the next hb. */
static int
resync(struct zt_watch *w, size_t i, zt_watch_cb cb, void *arg)
{
	w->st.resyncs++;
	int r = snapshot(w, i, cb, arg);
	return r == ZT_E_REMOTE || r == -ETIMEDOUT ? 0 : r;
}

static int
on_update(struct zt_watch *w, size_t i, const uint8_t *buf, size_t len, zt_watch_cb cb, void *arg)
{
	struct shard *s = &w->shards[i];
	Zonetally__V1__TotalsUpdate *u = zonetally__v1__totals_update__unpack(NULL, len, buf);
	struct zt_qblock nb;
	int r = 0;

	if (u == NULL || u->block == NULL || zt_qblock_decode(u->block, &nb) < 0) {
		w->st.malformed++;
		zonetally__v1__totals_update__free_unpacked(u, NULL);
		return 0;
	}
	if (s->state != S_SYNCED)
		goto out;
	struct tseq *t = find_topic(s, nb.code, true);
	if (t == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (u->epoch != s->epoch || u->topic_seq > t->seq + 1) {
		r = resync(w, i, cb, arg);
		goto out;
	}
	if (u->topic_seq <= t->seq)
		goto out; /* published before the snapshot */
	t->seq = u->topic_seq;
	if (u->feed_seq <= s->snap_feed_seq || !watched(w, nb.code)) {
		w->st.skipped++;
		goto out;
	}
	struct zt_qblock *b = find_block(s, &nb, true);
	if (b == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < u->block->n_totals; k++) {
		const Zonetally__V1__Total *x = u->block->totals[k];
		b->b.t[x->direction][x->mode] = nb.b.t[x->direction][x->mode];
	}
	s->feed_seq = u->feed_seq;
	w->st.updates++;
	if (cb != NULL) {
		struct zt_watch_event ev = {.kind = ZT_WATCH_UPDATE,
		    .shard = i,
		    .feed_seq = u->feed_seq,
		    .block = merge(w, b)};
		r = cb(&ev, arg);
	}
out:
	zonetally__v1__totals_update__free_unpacked(u, NULL);
	return r;
}

/* True if the heartbeat names an update of a watched topic that never arrived. */
static bool
hb_gap(struct zt_watch *w, struct shard *s, const Zonetally__V1__Heartbeat *hb)
{
	if (hb->epoch != s->epoch)
		return true;
	for (size_t k = 0; k < hb->n_topics; k++) {
		const Zonetally__V1__TopicSeq *ts = hb->topics[k];
		if (!watched(w, ts->code))
			continue;
		struct tseq *t = find_topic(s, ts->code, false);
		if (ts->seq > (t != NULL ? t->seq : 0))
			return true;
	}
	return false;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Notes a heartbeat's arrival: the silence restarts, the interval joins the estimate. */
static void
hb_seen(struct shard *s)
{
	int64_t now = mono_ms();

	if (s->n_hb > 0)
		s->intervals[s->n_hb % HB_WINDOW] = now - s->last_hb_ms;
	s->n_hb++;
	s->last_hb_ms = now;
}

/*
 * The shard's heartbeat period: the longest of the last HB_WINDOW intervals, so that a
 * burst of queued heartbeats drained at once does not shrink it; HB_DEFAULT_MS before two.
 */
static int64_t
hb_period(const struct shard *s)
{
	int64_t p = 0;

	for (int k = 0; k < HB_WINDOW; k++)
		if (s->intervals[k] > p)
			p = s->intervals[k];
	return p <= 0 ? HB_DEFAULT_MS : p < 10 ? 10 : p;
}

static int
on_heartbeat(
    struct zt_watch *w, size_t i, const uint8_t *buf, size_t len, zt_watch_cb cb, void *arg)
{
	struct shard *s = &w->shards[i];
	Zonetally__V1__Heartbeat *hb = zonetally__v1__heartbeat__unpack(NULL, len, buf);
	int r = 0;

	if (hb == NULL) {
		w->st.malformed++;
		return 0;
	}
	hb_seen(s);
	if (s->state == S_WAIT_HB) {
		r = snapshot(w, i, cb, arg);
		r = r == ZT_E_REMOTE || r == -ETIMEDOUT ? 0 : r;
	} else if (hb_gap(w, s, hb)) {
		r = resync(w, i, cb, arg);
	} else {
		if (hb->feed_seq > s->feed_seq)
			s->feed_seq = hb->feed_seq; /* nothing watched changed meanwhile */
		if (cb != NULL) {
			struct zt_watch_event ev = {
			    .kind = ZT_WATCH_HEARTBEAT, .shard = i, .feed_seq = s->feed_seq};
			r = cb(&ev, arg);
		}
	}
	zonetally__v1__heartbeat__free_unpacked(hb, NULL);
	return r;
}

/* Handles the waiting messages of one shard's feed. */
static int
drain_shard(struct zt_watch *w, size_t i, zt_watch_cb cb, void *arg)
{
	struct shard *s = &w->shards[i];

	for (int n = 0; n < BURST; n++) {
		zmq_msg_t topic, body;
		zmq_msg_init(&topic);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&topic, s->sub, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&topic);
			zmq_msg_close(&body);
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		}
		int r = 0;
		if (zmq_msg_more(&topic) && zmq_msg_recv(&body, s->sub, 0) >= 0 &&
		    !zmq_msg_more(&body)) {
			const uint8_t *b = zmq_msg_data(&body);
			size_t blen = zmq_msg_size(&body);
			if (zmq_msg_size(&topic) == 2 && memcmp(zmq_msg_data(&topic), "hb", 2) == 0)
				r = on_heartbeat(w, i, b, blen, cb, arg);
			else
				r = on_update(w, i, b, blen, cb, arg);
		} else {
			w->st.malformed++;
		}
		zmq_msg_close(&topic);
		zmq_msg_close(&body);
		if (r != 0)
			return r;
	}
	return 0;
}

int
zt_watch_poll(struct zt_watch *w, int timeout_ms, zt_watch_cb cb, void *arg)
{
	zmq_pollitem_t items[ZT_WATCH_MAX_SHARDS];

	for (size_t i = 0; i < w->n_shards; i++)
		items[i] = (zmq_pollitem_t){.socket = w->shards[i].sub, .events = ZMQ_POLLIN};
	if (zmq_poll(items, (int)w->n_shards, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	for (size_t i = 0; i < w->n_shards; i++)
		if (items[i].revents & ZMQ_POLLIN) {
			int r = drain_shard(w, i, cb, arg);
			if (r != 0)
				return r;
		}
	return 0;
}

/* Connects one shard: learns its feed endpoint, subscribes (hb last). */
static int
shard_open(struct zt_watch *w, struct shard *s, const char *endpoint, const struct zt_watch_opts *o)
{
	struct zt_counters c;
	uint64_t map, used;
	int linger = 0;
	char err[256];
	int r = zt_query_new_curve(endpoint, o->timeout_ms, o->curve, &s->q);

	if (r < 0 || (r = zt_query_stats(s->q, &c, &map, &used)) < 0)
		return r;
	s->last_hb_ms = mono_ms(); /* the silence counts from the connect */
	s->sub = zmq_socket(w->ctx, ZMQ_SUB);
	if (s->sub == NULL)
		return -errno;
	(void)zmq_setsockopt(s->sub, ZMQ_LINGER, &linger, sizeof(linger));
	if (o->rcvhwm > 0)
		(void)zmq_setsockopt(s->sub, ZMQ_RCVHWM, &o->rcvhwm, sizeof(o->rcvhwm));
	for (size_t i = 0; i < w->n_prefixes; i++) {
		char topic[16];
		int n = snprintf(topic, sizeof(topic), "tot.%s", w->prefixes[i]);
		if (zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, topic, (size_t)n) < 0)
			return -errno;
	}
	if (w->n_prefixes == 0 && zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, "tot.", 4) < 0)
		return -errno;
	if (o->curve != NULL &&
	    (r = zt_curve_client(
	         s->sub, o->curve->server_key, o->curve->client_key, err, sizeof(err))) < 0)
		return r;
	if (zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, "hb", 2) < 0 ||
	    zmq_connect(s->sub, zt_query_feed_endpoint(s->q)) < 0)
		return -errno;
	return 0;
}

int
zt_watch_new(const struct zt_watch_opts *o, struct zt_watch **ret)
{
	struct zt_watch *w;

	if (o->n_endpoints == 0 || o->n_endpoints > ZT_WATCH_MAX_SHARDS)
		return -EINVAL;
	for (size_t i = 0; i < o->n_prefixes; i++) {
		size_t len = strlen(o->prefixes[i]);
		if (len > 6 || strspn(o->prefixes[i], "0123456789") != len)
			return -EINVAL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->shards = calloc(o->n_endpoints, sizeof(*w->shards));
	w->prefixes = calloc(o->n_prefixes ? o->n_prefixes : 1, sizeof(*w->prefixes));
	w->ctx = zmq_ctx_new();
	if (w->shards == NULL || w->prefixes == NULL || w->ctx == NULL) {
		zt_watch_free(w);
		return -ENOMEM;
	}
	for (size_t i = 0; i < o->n_prefixes; i++)
		(void)snprintf(w->prefixes[i], sizeof(w->prefixes[i]), "%s", o->prefixes[i]);
	w->n_prefixes = o->n_prefixes;
	for (size_t i = 0; i < o->n_endpoints; i++) {
		w->n_shards++;
		int r = shard_open(w, &w->shards[i], o->endpoints[i], o);
		if (r < 0) {
			zt_watch_free(w);
			return r;
		}
	}
	*ret = w;
	return 0;
}

struct zt_watch *
zt_watch_free(struct zt_watch *w)
{
	if (w == NULL)
		return NULL;
	for (size_t i = 0; i < w->n_shards; i++) {
		struct shard *s = &w->shards[i];
		if (s->sub != NULL)
			(void)zmq_close(s->sub);
		zt_query_free(s->q);
		free(s->topics);
		free(s->blocks);
	}
	if (w->ctx != NULL)
		(void)zmq_ctx_term(w->ctx);
	free(w->shards);
	free(w->prefixes);
	free(w);
	return NULL;
}

void
zt_watch_get_stats(const struct zt_watch *w, struct zt_watch_stats *ret)
{
	*ret = w->st;
}

bool
zt_watch_synced(const struct zt_watch *w)
{
	for (size_t i = 0; i < w->n_shards; i++)
		if (w->shards[i].state != S_SYNCED)
			return false;
	return true;
}

int
zt_watch_state(const struct zt_watch *w, int64_t *ret_silence_ms)
{
	int64_t now = mono_ms(), worst_silence = 0;
	int worst = ZT_WATCH_LIVE;

	for (size_t i = 0; i < w->n_shards; i++) {
		const struct shard *s = &w->shards[i];
		int64_t silence = now - s->last_hb_ms, period = hb_period(s);
		int st = silence > ZT_WATCH_OFFLINE_PERIODS * period ? ZT_WATCH_OFFLINE
		    : silence > ZT_WATCH_STALE_PERIODS * period      ? ZT_WATCH_STALE
		    : s->state != S_SYNCED                           ? ZT_WATCH_SYNCING
		                                                     : ZT_WATCH_LIVE;
		if (st > worst || (st == worst && silence > worst_silence)) {
			worst = st;
			worst_silence = silence;
		}
	}
	if (ret_silence_ms != NULL)
		*ret_silence_ms = worst_silence;
	return worst;
}

const char *
zt_watch_state_name(int state)
{
	static const char *const names[] = {"live", "syncing", "stale", "offline"};

	return state >= 0 && state <= ZT_WATCH_OFFLINE ? names[state] : "unknown";
}

int
zt_watch_each(struct zt_watch *w, zt_watch_cb cb, void *arg)
{
	/* every key any shard holds, once: walk each shard and skip keys an earlier one has */
	for (size_t i = 0; i < w->n_shards; i++)
		for (size_t k = 0; k < w->shards[i].n_blocks; k++) {
			const struct zt_qblock *b = &w->shards[i].blocks[k];
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = find_block(&w->shards[j], b, false) != NULL;
			if (seen)
				continue;
			struct zt_watch_event ev = {.kind = ZT_WATCH_SNAPSHOT,
			    .shard = i,
			    .feed_seq = w->shards[i].feed_seq,
			    .block = merge(w, b)};
			int r = cb(&ev, arg);
			if (r != 0)
				return r;
		}
	return 0;
}
