/*
 * send.c: the ZeroMQ side of `zonetally-pub`: an XPUB socket (wire-compatible with PUB) that
 * connects to the daemon's SUB endpoints, waits until the subscribers' subscriptions arrived
 * (no slow-joiner sleep), sends two-frame messages without ever dropping (SNDHWM 0), paces
 * to a rate in small bursts, and lingers until sent on close.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "pub.h"

#define BURSTS_PER_S 1000 /* pacing granularity: sleep at most this often */

int64_t
mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
pub_open(struct pub *p, const struct pub_opts *o)
{
	int zero = 0, one = 1;

	p->rate = o->rate;
	p->timeout_s = o->timeout_s;
	if (o->reliable)
		return rel_open(p, o);
	if ((p->ctx = zmq_ctx_new()) == NULL)
		return -errno;
	if ((p->sock = zmq_socket(p->ctx, ZMQ_XPUB)) == NULL)
		return -errno;
	/* verbose: every subscriber's subscription is passed up, even for the same topic */
	if (zmq_setsockopt(p->sock, ZMQ_SNDHWM, &zero, sizeof(zero)) < 0 ||
	    zmq_setsockopt(p->sock, ZMQ_XPUB_VERBOSE, &one, sizeof(one)) < 0)
		return -errno;
	if (o->curve_server_key != NULL) {
		char why[200];
		int r =
		    zt_curve_client(p->sock, o->curve_server_key, o->curve_key, why, sizeof(why));
		if (r < 0) {
			(void)snprintf(p->err, sizeof(p->err), "CURVE: %s", why);
			return r;
		}
	}
	int r = zt_curve_watch_new(p->ctx, p->sock, o->curve_server_key != NULL, &p->hs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < o->n_endpoints; i++)
		if (zmq_connect(p->sock, o->endpoints[i]) < 0)
			return -errno;
	return 0;
}

int
pub_wait_subscribers(struct pub *p, unsigned long n, int64_t deadline_ns)
{
	unsigned long seen = 0;
	uint8_t msg[256];

	if (p->rel != NULL) { /* acknowledgements replace the subscription handshake */
		p->start_ns = mono_ns();
		return 0;
	}
	while (seen < n) {
		int64_t left_ms = (deadline_ns - mono_ns()) / 1000000;
		zmq_pollitem_t item = {.socket = p->sock, .events = ZMQ_POLLIN};
		if (zt_curve_watch_failed(p->hs, left_ms <= 0, p->err, sizeof(p->err)))
			return -ECONNREFUSED;
		if (left_ms <= 0)
			return -ETIMEDOUT;
		int r = zmq_poll(&item, 1, left_ms > 100 ? 100 : (long)left_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		int len = zmq_recv(p->sock, msg, sizeof(msg), ZMQ_DONTWAIT);
		if (len > 0 && msg[0] == 1)
			p->subscribers_seen = ++seen;
	}
	p->start_ns = mono_ns();
	return 0;
}

/* Sleeps until the time the next burst is due, when pacing; on the reliable path, sends
 * what is queued first. Returns 0 or a negative errno. */
static int
pace(struct pub *p)
{
	uint64_t burst = (uint64_t)(p->rate / BURSTS_PER_S);

	if (burst == 0)
		burst = 1;
	if (p->sent % burst != 0)
		return 0;
	if (p->rel != NULL && rel_kick(p) < 0)
		return -EIO;
	int64_t due = p->start_ns + (int64_t)((double)p->sent / p->rate * 1e9);
	struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		continue;
	return 0;
}

/* Packs w into p->buf and sends it (a copy is queued: p->buf is reused). */
int
pub_send(struct pub *p, const struct zt_wire *w)
{
	char topic[ZT_TOPIC_LEN + 1];
	struct pub_msg m = {.topic = topic, .data = p->buf, .sequence = w->sequence};

	m.len = zt_wire_pack(w, p->buf);
	zt_wire_topic(w, topic);
	m.topic_len = strlen(topic);
	return pub_send_msg(p, &m, false);
}

/*
 * Sends one message, paced. `stable`: m->data stays valid and unchanged until pub_close()
 * returns, so the payload frame points at it instead of a copy (zmq_send_const): no malloc
 * or memcpy per message, which is what lets a pre-encoded run offer more than the daemon
 * takes. The topic (9 bytes) is copied either way: ZeroMQ keeps it inside the message.
 */
int
pub_send_msg(struct pub *p, const struct pub_msg *m, bool stable)
{
	if (p->rate > 0 && pace(p) < 0)
		return -EIO;
	if (p->rel != NULL)
		return rel_send(p, m->sequence, m->data, m->len);
	while (zmq_send(p->sock, m->topic, m->topic_len, ZMQ_SNDMORE) < 0)
		if (errno != EINTR)
			return -errno;
	while ((stable ? zmq_send_const(p->sock, m->data, m->len, 0)
	               : zmq_send(p->sock, m->data, m->len, 0)) < 0)
		if (errno != EINTR)
			return -errno;
	p->sent++;
	p->bytes += m->len;
	return 0;
}

/* After the input: waits for the last acknowledgement on the reliable path. Returns an
 * exit status. */
int
pub_finish(struct pub *p)
{
	return p->rel != NULL ? rel_finish(p) : 0;
}

void
pub_close(struct pub *p, unsigned long linger_s)
{
	int linger = (int)(linger_s * 1000);

	if (p->rel != NULL)
		rel_close(p);
	p->hs = zt_curve_watch_free(p->hs);
	if (p->sock != NULL) {
		(void)zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof(linger));
		(void)zmq_close(p->sock);
		p->sock = NULL;
	}
	if (p->ctx != NULL) {
		while (zmq_ctx_term(p->ctx) < 0 && errno == EINTR)
			continue;
		p->ctx = NULL;
	}
}
