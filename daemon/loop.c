/*
 * loop.c: the main thread's event loop and group commit. It owns the ingest sockets and the
 * feed (the query socket is the query thread's, issue 14): it polls the SUB and ROUTER
 * sockets, the writer's PAIR socket and a signal self-pipe; decodes messages into the
 * batch being filled; hands a batch to the writer when it is due and the writer is idle;
 * and on SIGTERM/SIGINT stops reading, commits what is buffered and returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "daemon.h"
#include "zonetally.h"

#define STATS_EVERY_MS 10000
#define RECV_BURST     256 /* messages taken per poll wake-up before looking at the writer */

static volatile sig_atomic_t quit;
static volatile sig_atomic_t hup; /* SIGHUP: reload between batches */
static int wake_fd = -1;

/* Sets a flag and wakes the poll; write() is async-signal-safe. */
static void
on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGHUP)
		hup = 1;
	else
		quit = sig;
	if (wake_fd >= 0)
		(void)!write(wake_fd, "", 1);
	errno = saved;
}

/* Installs the handlers: SIGTERM/SIGINT stop the daemon, SIGHUP reloads, SIGPIPE is ignored. */
int
loop_signals(struct daemon *d)
{
	struct sigaction sa;

	if (pipe(d->sigpipe) < 0)
		return -errno;
	for (int i = 0; i < 2; i++)
		if (fcntl(d->sigpipe[i], F_SETFD, FD_CLOEXEC) < 0 ||
		    fcntl(d->sigpipe[i], F_SETFL, O_NONBLOCK) < 0)
			return -errno;
	wake_fd = d->sigpipe[1];
	memset(&sa, 0, sizeof(sa));
	(void)sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_signal;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	/* A file size limit reached by the store must be a failed commit (EFBIG) that the
	 * writer retries, not a signal that kills the daemon with a batch unacknowledged. */
	if (sigaction(SIGXFSZ, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* Logs the rejections of a committed batch, rate-limited per reason, with their detail. */
static void
log_rejections(const struct batch *b, const struct zt_reject_ctx *rc)
{
	char det[ZT_REJECT_DETAIL_LEN];

	if (b->res.rejected == 0 || log_getlevel() < ZT_LOG_WARNING)
		return;
	for (size_t i = 0; i < b->n; i++) {
		const struct zt_entry *e = &b->e[i];
		if (e->outcome != ZT_OUT_REJECTED)
			continue;
		bool has = rejects_detail(b, i, rc, det, sizeof(det)) > 0;
		if (e->has_seq)
			log_reject(e->reason, "publisher '%s' sequence %llu: %s%s%s",
			    e->ev.publisher, (unsigned long long)e->ev.sequence,
			    zt_reject_text(e->reason), has ? ": " : "", has ? det : "");
		else
			log_reject(e->reason, "%s%s%s", zt_reject_text(e->reason), has ? ": " : "",
			    has ? det : "");
	}
}

/* Takes back the writer's batch, accounts for it, and makes it the spare buffer. */
static int
collect(struct daemon *d, struct batch **spare)
{
	struct batch *b = writer_collect(&d->w);

	if (b == NULL)
		return -EIO;
	if (b->rc < 0) {
		log_warnx(
		    "store: commit of %zu messages failed at shutdown: %s; exiting without acknowledging them",
		    b->n, zt_strerror(b->rc));
		return b->rc;
	}
	d->received += b->n;
	d->accepted += b->res.accepted;
	d->duplicates += b->res.duplicates;
	d->rejected += b->res.rejected;
	d->commits++;
	log_debug(
	    "commit: %zu messages, %u accepted, %u duplicates, %u rejected, %u totals, %u pruned, feed_seq %llu",
	    b->n, b->res.accepted, b->res.duplicates, b->res.rejected, b->res.totals_written,
	    b->res.pruned, (unsigned long long)b->res.feed_seq);
	struct zt_reject_ctx rc;
	rejects_ctx(d, b, &rc);
	log_rejections(b, &rc);
	metrics_commit(d->metrics, b, &d->in);
	seqlog_batch(b);
	acktrack_committed(&d->ack, b);
	if (router_ack(&d->rt, b, &rc) < 0)
		log_warnx("router: out of memory for acknowledgements; publishers will resend");
	/* the writer is idle until the next submit: its store's changed list is ours to read */
	if (feed_publish(&d->feed, d->w.store, b->res.feed_seq) < 0)
		log_warnx("feed: cannot publish commit %llu; watchers will re-snapshot",
		    (unsigned long long)b->res.feed_seq);
	batch_clear(b);
	*spare = b;
	return 0;
}

/* Hands the filling batch to an idle writer if it is due (or if force), and swaps. */
static int
maybe_submit(struct daemon *d, struct batch **spare, bool force)
{
	const struct zt_config *c = d->conf;

	if (d->w.busy || d->fill->n == 0)
		return 0;
	if (!force && !batch_due(d->fill, now_monotonic_ms(), c->batch_max_events, c->batch_max_ms))
		return 0;
	/* the marks move in commit order, so an ack never covers a batch still being filled */
	int r = acktrack_batch(&d->ack, d->fill);
	if (r == -ENOMEM && !force) {
		/* marking is idempotent: keep the batch (nothing acknowledged) and retry next turn,
		 * rather than stop the daemon on one failed allocation */
		log_warnx("acknowledgements: out of memory; the batch waits and is marked again");
		return 0;
	}
	if (r == 0)
		r = writer_submit(&d->w, d->fill);
	if (r < 0)
		return r;
	d->fill = *spare;
	*spare = NULL;
	return 0;
}

/*
 * Takes up to a burst of waiting messages into the filling batch, from the ingest sockets
 * that poll found readable (sub, rt), each until it runs dry: asking an empty socket costs
 * a trip through libzmq's command mailbox per message.
 */
static int
take_messages(struct daemon *d, bool sub, bool rt)
{
	bool busy = d->w.busy;

	for (int i = 0; i < RECV_BURST && (sub || rt); i++) {
		int r = sub ? ingest_recv(&d->in, &d->dopts, d->fill) : 0;
		int q = rt ? router_recv(&d->rt, &d->dopts, d->fill) : 0;
		if (r < 0 || q < 0)
			return r < 0 ? r : q;
		sub = r > 0;
		rt = q > 0;
		if (busy && (sub || rt))
			d->fill->backlog = true;
	}
	return 0;
}

static void
log_stats(struct daemon *d, int64_t *last_ms, uint64_t *last_received)
{
	int64_t now = now_monotonic_ms();

	if (now - *last_ms < STATS_EVERY_MS)
		return;
	double secs = (double)(now - *last_ms) / 1000.0;
	uint64_t n = d->received - *last_received;
	*last_ms = now;
	if (n == 0)
		return; /* an idle daemon stays quiet */
	log_info(
	    "ingest: %llu messages in %.1f s (%.0f/s); since start %llu accepted, %llu duplicates, %llu rejected, %llu commits",
	    (unsigned long long)n, secs, (double)n / secs, (unsigned long long)d->accepted,
	    (unsigned long long)d->duplicates, (unsigned long long)d->rejected,
	    (unsigned long long)d->commits);
	if (d->in.unknown_fields > 0)
		log_info(
		    "ingest: %llu messages so far carried protobuf fields this daemon does not know",
		    (unsigned long long)d->in.unknown_fields);
	if (d->rt.acks_sent + d->rt.acks_lost + d->rt.window_drops > 0)
		log_info("acknowledged path: %llu acks sent, %llu lost (peer gone or full, it "
		         "resends), %llu events refused over a peer's window",
		    (unsigned long long)d->rt.acks_sent, (unsigned long long)d->rt.acks_lost,
		    (unsigned long long)d->rt.window_drops);
	*last_received = d->received;
}

/* One poll round: wait for input, the writer or a signal, then act on what is ready. */
static int
loop_once(struct daemon *d, struct batch **spare)
{
	zmq_pollitem_t items[4] = {
	    {.socket = d->w.pair, .events = ZMQ_POLLIN},
	    {.fd = d->sigpipe[0], .events = ZMQ_POLLIN},
	};
	int nitems = 2;
	/* At the cap, stop reading input: ZeroMQ queues and TCP back-pressure hold the rest. */
	bool reading = d->fill->n < d->fill->cap;
	if (reading) {
		items[nitems++] = (zmq_pollitem_t){.socket = d->in.sub, .events = ZMQ_POLLIN};
		if (d->rt.sock != NULL)
			items[nitems++] =
			    (zmq_pollitem_t){.socket = d->rt.sock, .events = ZMQ_POLLIN};
	}
	long timeout = d->w.busy
	    ? STATS_EVERY_MS
	    : batch_wait_ms(d->fill, now_monotonic_ms(), d->conf->batch_max_ms);

	if (timeout < 0)
		timeout = STATS_EVERY_MS;
	timeout = notify_poll_cap(&d->notify, timeout);
	if (d->rt.has_pending && reading)
		timeout = 0; /* the rest of an EventBatch waits in memory, not in the socket */
	long hb = feed_wait_ms(&d->feed, now_monotonic_ms());
	if (hb >= 0 && hb < timeout)
		timeout = hb;
	if (zmq_poll(items, nitems, timeout) < 0)
		return errno == EINTR ? 0 : -errno;
	(void)feed_tick(&d->feed, now_monotonic_ms());
	if (items[1].revents & ZMQ_POLLIN) {
		char buf[16];
		while (read(d->sigpipe[0], buf, sizeof(buf)) > 0)
			;
	}
	int r = 0;
	if (items[0].revents & ZMQ_POLLIN)
		r = collect(d, spare);
	bool sub = reading && (items[2].revents & ZMQ_POLLIN);
	bool rt = reading &&
	    (d->rt.has_pending || (d->rt.sock != NULL && (items[3].revents & ZMQ_POLLIN)));
	if (r == 0 && (sub || rt))
		r = take_messages(d, sub, rt);
	if (r == 0 && hup && !d->w.busy && !quit) {
		hup = 0; /* between batches: the writer holds none */
		reload_run(d);
	}
	if (r == 0 && !d->w.busy)
		metrics_refresh(d->metrics, d->w.store); /* the store is ours while idle */
	if (r == 0)
		r = maybe_submit(d, spare, false);
	return r;
}

/* Commits what is buffered: the batch in flight, then the one being filled. */
static int
drain(struct daemon *d, struct batch **spare)
{
	int r = 0;

	if (d->w.busy)
		r = collect(d, spare);
	if (r == 0 && d->fill->n > 0) {
		r = maybe_submit(d, spare, true);
		if (r == 0)
			r = collect(d, spare);
	}
	return r;
}

/*
 * Runs until SIGTERM/SIGINT, then commits what is buffered.
 * @return 0 after a clean drain; a negative errno or ZT_E_* code if the store stayed
 *     unusable (nothing unacknowledged was reported as committed).
 */
int
loop_run(struct daemon *d)
{
	struct batch *spare = &d->bufs[1];
	int64_t last_ms = now_monotonic_ms();
	uint64_t last_received = 0;
	int r = 0;

	d->fill = &d->bufs[0];
	while (!quit && r == 0) {
		r = loop_once(d, &spare);
		log_stats(d, &last_ms, &last_received);
		notify_tick(&d->notify, d);
	}
	if (r < 0)
		return r;
	notify_stopping();
	log_info("signal %d: stopping, committing what is buffered", (int)quit);
	writer_give_up(&d->w);
	return drain(d, &spare);
}
