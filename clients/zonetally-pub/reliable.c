/*
 * reliable.c: `zonetally-pub --reliable`: the same inputs, sent through zt_publisher_* to
 * the daemon's ROUTER socket. Each event is kept until acknowledged; the tool waits for the
 * last acknowledgement and exits 0 only when every event is acknowledged. With --spool, a
 * run that was killed resumes: the spooled, unacknowledged events are resent and the input
 * continues after the highest sequence already spooled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pub.h"

#define POLL_MS    50
/* Events queued between two non-blocking polls: each poll sends what is queued as one
 * EventBatch, so polling after every event made one-event messages (a message, a poll
 * system call and an ack read per event on both sides). */
#define SEND_EVERY 64

int
rel_open(struct pub *p, const struct pub_opts *o)
{
	struct zt_publisher_opts po = {
	    .window = o->window,
	    .spool_dir = o->spool,
	    .curve_server_key = o->curve_server_key,
	    .curve_key = o->curve_key,
	};
	int r = zt_publisher_new(o->endpoints[0], o->publisher, &po, &p->rel);

	if (r < 0 && o->spool != NULL &&
	    (r == -ENOENT || r == -EACCES || r == -ENOTDIR || r == -EROFS || r == -ENOSPC)) {
		/* the spool directory is created, its parent is not */
		(void)snprintf(p->err, sizeof(p->err),
		    "spool '%s': %s (it is created if missing; its parent directory must exist "
		    "and be writable)",
		    o->spool, strerror(-r));
		return r;
	}
	if (r < 0)
		return r;
	p->resume_seq = zt_publisher_resume_seq(p->rel);
	if (p->resume_seq > 0)
		(void)fprintf(stderr,
		    "zonetally-pub: spool '%s': resuming after sequence %llu, %zu "
		    "events to resend\n",
		    o->spool, (unsigned long long)p->resume_seq, zt_publisher_unacked(p->rel));
	return 0;
}

/*
 * Whether an input event can travel on the acknowledged path: the daemon acknowledges per
 * publisher_id, so an event naming another publisher (or none it can read) could never be
 * acknowledged to this connection. Such events are counted, not sent, and make the exit
 * status non-zero.
 */
bool
rel_line_ok(struct pub *p, const struct zt_wire *w, const char *publisher)
{
	if (!(w->has & ZT_W_PUBLISHER) || strcmp(w->publisher, publisher) == 0)
		return true;
	if (p->unsendable++ < 5)
		(void)fprintf(stderr,
		    "zonetally-pub: not sent: publisher_id '%s' is not --publisher '%s'\n",
		    w->publisher, publisher);
	return false;
}

/*
 * Queues one event, waiting for acknowledgements while the window is full.
 * @return 0; -ETIMEDOUT when nothing was acknowledged for timeout_s; a negative errno.
 */
int
rel_send(struct pub *p, uint64_t seq, const uint8_t *data, size_t len)
{
	/* the input's own resends, and what a killed run already spooled, are skipped: the
	 * reliable path resends by itself */
	if (seq <= p->resume_seq || seq <= p->last_seq) {
		p->skipped++;
		return 0;
	}
	for (;;) {
		int r = zt_publisher_send(p->rel, seq, data, len);
		if (r == 0)
			break;
		if (r != -EAGAIN)
			return r;
		if ((r = zt_publisher_poll(p->rel, POLL_MS)) < 0)
			return r;
		bool late = zt_publisher_stalled_ms(p->rel) > (int64_t)p->timeout_s * 1000;
		if (zt_publisher_handshake_failed(p->rel, late, p->err, sizeof(p->err)))
			return -ECONNREFUSED;
		if (late)
			return -ETIMEDOUT;
	}
	p->last_seq = seq;
	p->sent++;
	p->bytes += len;
	return p->sent % SEND_EVERY == 0 ? rel_kick(p) : 0;
}

/* Sends what is queued and reads the acknowledgements that arrived, without waiting (before
 * the pacer sleeps, so that nothing queued waits out the pause). Returns 0 or -EIO. */
int
rel_kick(struct pub *p)
{
	return zt_publisher_poll(p->rel, 0) < 0 ? -EIO : 0;
}

/* The ack latency percentiles p50, p99, p999 and the maximum [ms]. */
static void
ack_ms(const struct pub *p, double ret[4])
{
	static const double q[4] = {0.5, 0.99, 0.999, 1};

	for (int i = 0; i < 4; i++)
		ret[i] = (double)zt_publisher_ack_latency_us(p->rel, q[i]) / 1e3;
}

static void
report(const struct pub *p)
{
	struct zt_publisher_stats st;
	double ms[4];

	zt_publisher_get_stats(p->rel, &st);
	(void)fprintf(stderr,
	    "reliable: %llu events acknowledged through sequence %llu, %llu rejected, %llu resent, "
	    "%llu input events skipped\n",
	    (unsigned long long)st.acked, (unsigned long long)st.through,
	    (unsigned long long)st.rejected, (unsigned long long)st.resent,
	    (unsigned long long)p->skipped);
	for (int i = 0; i < ZT_REJECT__COUNT; i++)
		if (st.by_reason[i] > 0)
			(void)fprintf(stderr, "  rejected %s: %llu\n", zt_reject_name(i),
			    (unsigned long long)st.by_reason[i]);
	ack_ms(p, ms);
	(void)fprintf(stderr, "ack latency: p50 %.3f  p99 %.3f  p999 %.3f  max %.3f [ms]\n", ms[0],
	    ms[1], ms[2], ms[3]);
}

/* The acknowledged path's part of the --stats-json line (main.c opens and closes it). */
void
rel_stats_json(const struct pub *p)
{
	struct zt_publisher_stats st;
	double ms[4];

	zt_publisher_get_stats(p->rel, &st);
	ack_ms(p, ms);
	(void)fprintf(stderr,
	    ", \"acked\": %llu, \"rejected\": %llu, \"resent\": %llu, \"ack_p50_ms\": %.3f, "
	    "\"ack_p99_ms\": %.3f, \"ack_p999_ms\": %.3f, \"ack_max_ms\": %.3f",
	    (unsigned long long)st.acked, (unsigned long long)st.rejected,
	    (unsigned long long)st.resent, ms[0], ms[1], ms[2], ms[3]);
}

/*
 * Waits for the last acknowledgement and reports.
 * @return 0 when every event is acknowledged, else EXIT_FAILURE (after saying how many are
 *     not).
 */
int
rel_finish(struct pub *p)
{
	int r = zt_publisher_flush(p->rel, (int)p->timeout_s * 1000);

	report(p);
	if (r == 0 && p->unsendable > 0) {
		(void)fprintf(stderr,
		    "zonetally-pub: %llu input events not sent: their publisher_id is not "
		    "--publisher, so they could never be acknowledged\n",
		    (unsigned long long)p->unsendable);
		return EXIT_FAILURE;
	}
	if (r == 0)
		return 0;
	if (p->err[0] != '\0' ||
	    zt_publisher_handshake_failed(p->rel, true, p->err, sizeof(p->err))) {
		(void)fprintf(stderr, "zonetally-pub: gave up: %zu events not acknowledged: %s\n",
		    zt_publisher_unacked(p->rel), p->err);
		return EXIT_FAILURE;
	}
	(void)fprintf(stderr,
	    "zonetally-pub: gave up: %zu events not acknowledged (%s after %lu s without "
	    "progress)\n",
	    zt_publisher_unacked(p->rel), r == -ETIMEDOUT ? "timed out" : strerror(-r),
	    p->timeout_s);
	return EXIT_FAILURE;
}

void
rel_close(struct pub *p)
{
	p->rel = zt_publisher_free(p->rel);
}
