/*
 * publisher.c: zt_publisher_*, the acknowledged path seen from a publisher. A ring of
 * events not yet acknowledged, sent in EventBatch messages over a DEALER socket; an
 * IngestAck releases every event up to its through_sequence; when no acknowledgement
 * arrives for resend_ms, every event left in the ring is sent again (go-back-N from
 * through_sequence + 1: after a daemon restart the lost batches are exactly those).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "pubconn.h"
#include "zonetally.pb-c.h"

#define DEF_WINDOW    10000
#define DEF_BATCH     256
#define MAX_BATCH     1024
#define DEF_RESEND_MS 1000
#define EVENT_MAX     (64u * 1024)

/* Milliseconds of the monotonic clock, for the resend timer. */
int64_t
pc_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds of the monotonic clock, for the acknowledgement latency. */
int64_t
pc_now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Puts an event in the ring (which has room). Takes a copy. */
static int
ring_push(struct zt_pubconn *pc, uint64_t seq, const void *data, size_t len)
{
	struct pc_slot *s = &pc->ring[(pc->head + pc->count) % pc->cap];

	if ((s->data = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(s->data, data, len);
	s->len = (uint32_t)len;
	s->seq = seq;
	s->queued_us = pc_now_us();
	s->reason = 0;
	if (pc->count == 0)
		pc->progress_ms = pc->acked_ms = pc_now_ms();
	pc->count++;
	pc->last_seq = seq;
	pc->st.queued++;
	return 0;
}

/* Grows the ring to hold n events (the spool may hold more than the window). */
static int
ring_reserve(struct zt_pubconn *pc, size_t n)
{
	if (n <= pc->cap)
		return 0;
	struct pc_slot *nr = calloc(n, sizeof(*nr));
	if (nr == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < pc->count; i++)
		nr[i] = pc->ring[(pc->head + i) % pc->cap];
	free(pc->ring);
	pc->ring = nr;
	pc->cap = n;
	pc->head = 0;
	return 0;
}

static int
from_spool(uint64_t seq, const uint8_t *data, uint32_t len, void *arg)
{
	struct zt_pubconn *pc = arg;
	int r = 0;

	if (seq <= pc->last_seq)
		return 0; /* an older copy: compaction keeps one, a crash may leave two */
	if (pc->count == pc->cap)
		r = ring_reserve(pc, pc->cap * 2);
	return r < 0 ? r : ring_push(pc, seq, data, len);
}

static int
open_socket(struct zt_pubconn *pc, const char *endpoint, const struct zt_publisher_opts *o)
{
	int zero = 0, ivl = 100, ivl_max = 1000, hwm = 1000;
	char err[256];

	if ((pc->ctx = zmq_ctx_new()) == NULL ||
	    (pc->sock = zmq_socket(pc->ctx, ZMQ_DEALER)) == NULL)
		return -ENOMEM;
	if (o != NULL && (o->curve_server_key != NULL || o->curve_key != NULL)) {
		if (o->curve_server_key == NULL || o->curve_key == NULL)
			return -EINVAL;
		int r =
		    zt_curve_client(pc->sock, o->curve_server_key, o->curve_key, err, sizeof(err));
		if (r < 0)
			return r;
	}
	if (zt_curve_watch_new(
	        pc->ctx, pc->sock, o != NULL && o->curve_server_key != NULL, &pc->hs) < 0 ||
	    zmq_setsockopt(pc->sock, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
	    zmq_setsockopt(pc->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) < 0 ||
	    zmq_setsockopt(pc->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max)) < 0 ||
	    zmq_setsockopt(pc->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_connect(pc->sock, endpoint) < 0)
		return -EINVAL;
	return 0;
}

int
zt_publisher_new(const char *endpoint, const char *publisher_id, const struct zt_publisher_opts *o,
    struct zt_pubconn **ret)
{
	struct zt_pubconn *pc = calloc(1, sizeof(*pc));
	int r;

	if (pc == NULL)
		return -ENOMEM;
	if (o != NULL)
		pc->o = *o;
	pc->o.window = pc->o.window ? pc->o.window : DEF_WINDOW;
	pc->o.batch_max = pc->o.batch_max ? pc->o.batch_max : DEF_BATCH;
	pc->o.resend_ms = pc->o.resend_ms ? pc->o.resend_ms : DEF_RESEND_MS;
	pc->o.spool_dir = NULL;
	pc->sp.log_fd = pc->sp.state_fd = -1;
	if (strlen(publisher_id) == 0 || strlen(publisher_id) > ZT_PUBLISHER_MAX ||
	    pc->o.batch_max > MAX_BATCH) {
		r = -EINVAL;
		goto fail;
	}
	memcpy(pc->publisher, publisher_id, strlen(publisher_id) + 1);
	if ((r = ring_reserve(pc, pc->o.window)) < 0)
		goto fail;
	if (o != NULL && o->spool_dir != NULL) {
		pc->has_spool = true;
		if ((r = spool_open(&pc->sp, o->spool_dir, from_spool, pc)) < 0)
			goto fail;
	}
	if ((r = open_socket(pc, endpoint, o)) < 0)
		goto fail;
	*ret = pc;
	return 0;
fail:
	zt_publisher_free(pc);
	return r;
}

struct zt_pubconn *
zt_publisher_free(struct zt_pubconn *pc)
{
	if (pc == NULL)
		return NULL;
	pc->hs = zt_curve_watch_free(pc->hs);
	if (pc->sock != NULL)
		(void)zmq_close(pc->sock);
	if (pc->ctx != NULL)
		while (zmq_ctx_term(pc->ctx) < 0 && errno == EINTR)
			continue;
	for (size_t i = 0; i < pc->count; i++)
		free(pc->ring[(pc->head + i) % pc->cap].data);
	free(pc->ring);
	free(pc->buf);
	if (pc->has_spool)
		spool_close(&pc->sp);
	free(pc);
	return NULL;
}

uint64_t
zt_publisher_resume_seq(const struct zt_pubconn *pc)
{
	return pc->has_spool ? pc->sp.high : 0;
}

/* Whether the daemon can acknowledge this event to this connection: it acks per
 * publisher_id and sequence, so both must be readable and be this connection's. */
static bool
ackable(const struct zt_pubconn *pc, uint64_t seq, const void *event, size_t len)
{
	Zonetally__V1__TradeEvent *m = zonetally__v1__trade_event__unpack(NULL, len, event);
	bool ok = m != NULL && m->publisher_id != NULL &&
	    strcmp(m->publisher_id, pc->publisher) == 0 && m->has_sequence && m->sequence == seq;

	if (m != NULL)
		zonetally__v1__trade_event__free_unpacked(m, NULL);
	return ok;
}

int
zt_publisher_send(struct zt_pubconn *pc, uint64_t seq, const void *event, size_t len)
{
	if (seq <= pc->last_seq || len == 0 || len > EVENT_MAX || !ackable(pc, seq, event, len))
		return -EINVAL;
	if (pc->count >= pc->o.window)
		return -EAGAIN;
	if (pc->count == pc->cap) {
		int r = ring_reserve(pc, pc->cap * 2);
		if (r < 0)
			return r;
	}
	if (pc->has_spool) {
		int r = spool_append(&pc->sp, seq, event, (uint32_t)len);
		if (r < 0)
			return r;
	}
	return ring_push(pc, seq, event, len);
}

size_t
zt_publisher_unacked(const struct zt_pubconn *pc)
{
	return pc->count;
}

int64_t
zt_publisher_stalled_ms(const struct zt_pubconn *pc)
{
	return pc->count == 0 ? 0 : pc_now_ms() - pc->acked_ms;
}

int
zt_publisher_handshake_failed(struct zt_pubconn *pc, bool final, char *err, size_t errlen)
{
	return pc->hs != NULL && zt_curve_watch_failed(pc->hs, final, err, errlen);
}

uint64_t
zt_publisher_ack_latency_us(const struct zt_pubconn *pc, double q)
{
	return lathist_quantile(&pc->ack_us, q < 0 ? 0 : q > 1 ? 1 : q);
}

void
zt_publisher_get_stats(const struct zt_pubconn *pc, struct zt_publisher_stats *ret)
{
	*ret = pc->st;
}
