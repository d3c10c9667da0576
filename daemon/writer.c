/*
 * writer.c: the thread that commits batches. It only calls zt_store_apply(), so that the
 * main thread keeps reading the sockets while an fsync runs. Batches travel as pointers over
 * an inproc PAIR socket; the main thread does not touch a batch between submit and collect.
 * A failed commit is retried with backoff for as long as the daemon runs, never dropped and
 * never acknowledged: the daemon stays up (readers in other processes keep reading the last
 * committed state) and publishers on the reliable path keep their events until it heals.
 * The writer also clears stale reader slots once a minute.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "daemon.h"

#define WRITER_ENDPOINT    "inproc://zonetallyd-writer"
#define RETRY_FIRST_MS     10
#define RETRY_MAX_MS       5000
#define PRUNE_PER_COMMIT   2000
#define READER_CHECK_EVERY 60000 /* ms between mdb_reader_check calls */

static pthread_t thread;
/* The errno of the commit failing now (-1: a store error with no errno), 0 while commits
 * succeed; written by the writer, read by the metrics thread. */
static atomic_int failing;

/* What a failed commit's code says in zonetally_store_write_errno. */
static int
errno_of(int rc)
{
	return rc < 0 && rc > -4096 ? -rc : -1;
}

/*
 * Whether commits are failing now, for /metrics: the errno of the last failed attempt
 * (ENOSPC for a full disk; -1 for a store error that is no errno), or 0 once one succeeds.
 */
int
writer_failing(void)
{
	return atomic_load(&failing);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Applies b, retrying a failed commit with growing pauses until it succeeds or the daemon
 * stops (writer_give_up()); leaves the last result in b. */
static void
apply_batch(struct writer *w, struct batch *b)
{
	int pause = RETRY_FIRST_MS;

	for (int attempt = 1;; attempt++) {
		struct zt_apply_opts opts = w->opts;
		opts.now_ms = now_wall_ms();
		/* prune at least as many records as the batch may add, so that under a steady
		 * load past the window the dedup DB stops growing; still bounded per commit */
		opts.prune_max = PRUNE_PER_COMMIT + (uint32_t)b->n;
		int64_t t0 = now_monotonic_us();
		b->rc = zt_store_apply(w->store, b->e, b->n, &opts, &b->res);
		b->apply_us = now_monotonic_us() - t0;
		if (b->rc >= 0) {
			atomic_store(&failing, 0);
			if (attempt > 1)
				log_warnx("store: commit succeeded after %d attempts; "
				          "acknowledging again",
				    attempt);
			return;
		}
		atomic_store(&failing, errno_of(b->rc));
		if (atomic_load(&w->give_up))
			return;
		log_warnx("store: COMMIT FAILED (attempt %d) for %zu messages: %s%s; nothing is "
		          "acknowledged until it succeeds, retrying in %d ms",
		    attempt, b->n, zt_strerror(b->rc),
		    b->rc == -ENOSPC ? " (free space on the store's filesystem)" : "", pause);
		sleep_ms(pause);
		pause = pause * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : pause * 2;
	}
}

/* Clears reader slots left by dead reader processes, at most once a minute. */
static void
reader_check(struct writer *w, int64_t *last_ms)
{
	int64_t now = now_monotonic_ms();
	int cleared = 0;

	if (now - *last_ms < READER_CHECK_EVERY)
		return;
	*last_ms = now;
	int r = zt_store_reader_check(w->store, &cleared);
	if (r < 0)
		log_warnx("store: reader check failed: %s, ignoring", zt_strerror(r));
	else if (cleared > 0)
		log_info("store: cleared %d stale reader slot(s) of dead processes", cleared);
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	void *pair = zmq_socket(w->zctx, ZMQ_PAIR);

	int64_t last_check = now_monotonic_ms();

	if (pair == NULL || zmq_connect(pair, WRITER_ENDPOINT) < 0)
		fatalx("writer: cannot connect its socket: %s", zmq_strerror(errno));
	for (;;) {
		struct batch *b = NULL;
		zmq_pollitem_t it = {.socket = pair, .events = ZMQ_POLLIN};
		reader_check(w, &last_check);
		if (zmq_poll(&it, 1, READER_CHECK_EVERY) <= 0)
			continue;
		int n = zmq_recv(pair, &b, sizeof(b), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (int)sizeof(b))
			fatalx("writer: bad hand-off message (%d bytes)", n);
		if (b == NULL)
			break;
		apply_batch(w, b);
		while (zmq_send(pair, &b, sizeof(b), 0) < 0)
			if (errno != EINTR)
				fatalx("writer: cannot reply: %s", zmq_strerror(errno));
	}
	(void)zmq_close(pair);
	return NULL;
}

/*
 * Binds the main thread's end of the hand-off socket and starts the writer thread, with
 * SIGTERM/SIGINT/SIGHUP blocked in it so that signals wake the main thread's poll.
 * @return 0 or a negative errno.
 */
int
writer_start(struct writer *w, void *zctx, struct zt_store *store, const struct zt_config *c)
{
	sigset_t all, old;
	int linger = 0;

	memset(w, 0, sizeof(*w));
	atomic_init(&w->give_up, false);
	w->zctx = zctx;
	w->store = store;
	w->opts = (struct zt_apply_opts){
	    .future_tolerance_ms = (int64_t)c->future_tolerance_s * 1000,
	    .dedup_window_days = c->dedup_window_days,
	    .rejects_max = c->rejects_max,
	    .prune_max = PRUNE_PER_COMMIT,
	};
	w->pair = zmq_socket(zctx, ZMQ_PAIR);
	if (w->pair == NULL)
		return -errno;
	(void)zmq_setsockopt(w->pair, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(w->pair, WRITER_ENDPOINT) < 0)
		return -errno;
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&thread, NULL, writer_main, w);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	w->started = true;
	return 0;
}

/* Gives b to the writer. The writer must be idle. @return 0 or a negative errno. */
int
writer_submit(struct writer *w, struct batch *b)
{
	batch_seal(b);
	while (zmq_send(w->pair, &b, sizeof(b), 0) < 0)
		if (errno != EINTR)
			return -errno;
	w->busy = true;
	return 0;
}

/*
 * Takes back the batch the writer finished (call when the PAIR socket is readable, or to
 * wait for it). @return the batch, with rc and res set, or NULL on a socket error.
 */
struct batch *
writer_collect(struct writer *w)
{
	struct batch *b = NULL;
	int n;

	while ((n = zmq_recv(w->pair, &b, sizeof(b), 0)) < 0 && errno == EINTR)
		;
	if (n != (int)sizeof(b))
		return NULL;
	w->busy = false;
	return b;
}

/* Makes a failing commit stop retrying (at shutdown): its batch comes back with rc < 0. */
void
writer_give_up(struct writer *w)
{
	atomic_store(&w->give_up, true);
}

/* Stops the thread (after collecting any batch in flight) and closes the socket. */
void
writer_stop(struct writer *w)
{
	if (w->started) {
		struct batch *quit = NULL;
		if (w->busy)
			(void)writer_collect(w);
		while (zmq_send(w->pair, &quit, sizeof(quit), 0) < 0 && errno == EINTR)
			;
		(void)pthread_join(thread, NULL);
		w->started = false;
	}
	if (w->pair != NULL)
		(void)zmq_close(w->pair);
	w->pair = NULL;
}
