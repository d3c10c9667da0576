/*
 * query_thread.c: the thread that owns the query socket (issue 14). Snapshots and other
 * queries are answered here, from the query's own read-only store handle (LMDB readers
 * never block the writer), so that a flood of them cannot take the ingest path's time: the
 * main thread never touches the query socket.
 *
 * Requests wait in a bounded queue: at most max_pending in all, at most max_per_client per
 * routing id (one connection). They are answered round-robin across clients, one request
 * per client per round, so a client with many outstanding requests waits for its own, not
 * others'. A request beyond either bound gets at once the error reply QUERY_BUSY_TEXT,
 * echoing its request_id, without a store read: a client always gets an answer.
 */
#define _DEFAULT_SOURCE /* syscall(SYS_gettid) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <zmq.h>

#include "daemon.h"

#define QUERY_NICE 10 /* the thread's nice value above the daemon's: ingest first */

/* One request waiting: its envelope and body, as received. */
struct qreq {
	zmq_msg_t id;   /* routing id frame */
	zmq_msg_t body; /* empty (size 0, bad = true) if the envelope was malformed */
	bool delim;     /* a REQ client: the reply needs the empty delimiter frame */
	bool bad;       /* not [id, body] nor [id, "", body] */
	int next;       /* next request of the same client, -1: none */
};

/* A client with requests waiting, known by its routing id. */
struct qclient {
	uint8_t id[ROUTER_ID_MAX];
	size_t id_len;
	int head, tail; /* its FIFO of requests (indices into the pool) */
	uint32_t n;
};

struct qstate {
	struct query *q;
	struct qreq *pool;
	int free_head; /* free list through next */
	struct qclient *clients;
	size_t n_clients, rr; /* clients with requests waiting; next to serve */
	uint32_t pending, cap;
};

static atomic_ullong n_served, n_busy; /* for /metrics: any thread reads them */

void
query_counts(uint64_t *ret_served, uint64_t *ret_busy)
{
	*ret_served = atomic_load(&n_served);
	*ret_busy = atomic_load(&n_busy);
}

/* Takes the reloadable limit of c (max_per_client); the thread reads it for each request.
 * max_pending sizes the queue at query_start(): it takes a restart. */
void
query_limits(struct query *q, const struct zt_config *c)
{
	if (!q->started)
		q->max_pending = c->query_max_pending;
	atomic_store(&q->max_per_client, c->query_max_per_client);
}

/* Sends the reply out (freed here) to the request's client; a client gone loses it. */
static void
reply(struct query *q, struct qreq *r, uint8_t *out, size_t len)
{
	if (out == NULL)
		return; /* out of memory: the client times out and asks again */
	(void)zmq_send(
	    q->router, zmq_msg_data(&r->id), zmq_msg_size(&r->id), ZMQ_SNDMORE | ZMQ_DONTWAIT);
	if (r->delim)
		(void)zmq_send(q->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	(void)zmq_send(q->router, out, len, ZMQ_DONTWAIT);
	free(out);
}

/*
 * Receives the frames of one message into the free slot r: [id, body] or [id, "", body];
 * any other shape is marked bad (and answered as malformed). @return 1, 0 when none waits,
 * or a -errno.
 */
static int
recv_request(void *sock, struct qreq *r)
{
	zmq_msg_t f[3];
	size_t n = 0;
	int more = 1;

	while (more) {
		zmq_msg_t tmp, *m = n < 3 ? &f[n] : &tmp;
		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			int e = errno;
			zmq_msg_close(m);
			for (size_t i = 0; i < n && i < 3; i++)
				zmq_msg_close(&f[i]);
			return n == 0 && e == EAGAIN ? 0 : -e;
		}
		more = zmq_msg_more(m);
		if (m == &tmp)
			zmq_msg_close(m);
		n++;
	}
	r->delim = n == 3 && zmq_msg_size(&f[1]) == 0;
	r->bad = !(n == 2 || r->delim);
	(void)zmq_msg_move(&r->id, &f[0]); /* closes the slot's empty message first */
	if (!r->bad)
		(void)zmq_msg_move(&r->body, &f[n - 1]);
	for (size_t i = 0; i < n && i < 3; i++)
		zmq_msg_close(&f[i]);
	return 1;
}

/* Empties slot i (its messages stay initialised, empty) and puts it on the free list. */
static void
release(struct qstate *st, int i)
{
	struct qreq *r = &st->pool[i];

	zmq_msg_close(&r->id);
	zmq_msg_close(&r->body);
	zmq_msg_init(&r->id);
	zmq_msg_init(&r->body);
	if (i == (int)st->cap)
		return; /* the scratch slot is never on the free list */
	r->next = st->free_head;
	st->free_head = i;
}

/* The client with r's routing id, created if absent (there is room: n_clients <= cap). */
static struct qclient *
client_of(struct qstate *st, const struct qreq *r)
{
	size_t len = zmq_msg_size((zmq_msg_t *)(uintptr_t)&r->id);
	const void *id = zmq_msg_data((zmq_msg_t *)(uintptr_t)&r->id);

	if (len > ROUTER_ID_MAX)
		len = ROUTER_ID_MAX;
	/* linear, but over at most max_pending clients that have requests waiting */
	for (size_t i = 0; i < st->n_clients; i++)
		if (st->clients[i].id_len == len && memcmp(st->clients[i].id, id, len) == 0)
			return &st->clients[i];
	struct qclient *c = &st->clients[st->n_clients++];
	memcpy(c->id, id, len);
	c->id_len = len;
	c->head = c->tail = -1;
	c->n = 0;
	return c;
}

/* Queues the request in slot i, or answers it busy: the queue is full (i is the scratch
 * slot) or its client has max_per_client requests queued. */
static void
admit(struct qstate *st, int i)
{
	struct qreq *r = &st->pool[i];
	uint32_t per = atomic_load(&st->q->max_per_client);
	struct qclient *c = i < (int)st->cap ? client_of(st, r) : NULL;

	if (c == NULL || c->n >= per) {
		size_t len = 0;
		if (c != NULL && c->n == 0)
			st->n_clients--; /* just created for nothing: it is the last one */
		uint8_t *out = query_error_reply(st->q, r->bad ? NULL : zmq_msg_data(&r->body),
		    zmq_msg_size(&r->body), QUERY_BUSY_TEXT, &len);
		reply(st->q, r, out, len);
		atomic_fetch_add(&n_busy, 1);
		release(st, i);
		return;
	}
	r->next = -1;
	if (c->tail >= 0)
		st->pool[c->tail].next = i;
	else
		c->head = i;
	c->tail = i;
	c->n++;
	st->pending++;
}

/* Reads up to the pool's size of what waits in the socket, each queued or answered busy
 * (into the scratch slot when the pool is full). */
static int
take(struct qstate *st)
{
	for (uint32_t k = 0; k < st->cap; k++) {
		int i = st->free_head >= 0 ? st->free_head : (int)st->cap;
		struct qreq *r = &st->pool[i];
		int rc = recv_request(st->q->router, r);
		if (rc <= 0)
			return rc == -EINTR || rc == -EAGAIN ? 0 : rc;
		if (i < (int)st->cap)
			st->free_head = r->next;
		/* a reader whose key was revoked since its handshake gets no answer at all; the
		 * ROUTER's own identity frame carries no connection metadata, the body does */
		if (!r->bad && !curve_reader_ok(&r->body)) {
			release(st, i);
			continue;
		}
		admit(st, i);
	}
	return 0;
}

/* Answers the oldest request of client k, and forgets the client if it has no more. */
static void
serve_client(struct qstate *st, size_t k)
{
	struct qclient *c = &st->clients[k];
	int i = c->head;
	struct qreq *r = &st->pool[i];
	size_t len = 0;

	c->head = r->next;
	if (c->head < 0)
		c->tail = -1;
	c->n--;
	st->pending--;
	uint8_t *out = query_handle(
	    st->q, r->bad ? NULL : zmq_msg_data(&r->body), zmq_msg_size(&r->body), &len);
	reply(st->q, r, out, len);
	atomic_fetch_add(&n_served, 1);
	release(st, i);
	if (c->n == 0)
		st->clients[k] = st->clients[--st->n_clients];
}

/* One round: one request of each client with requests waiting, starting after the last. */
static void
serve_round(struct qstate *st)
{
	size_t n = st->n_clients;

	for (size_t done = 0; done < n && st->n_clients > 0; done++) {
		size_t k = st->rr % st->n_clients;
		size_t before = st->n_clients;
		serve_client(st, k);
		/* a client that left moved the last one into k: serve that one next */
		st->rr = st->n_clients < before ? k : k + 1;
	}
}

/* The thread: reads, queues and answers until a byte arrives on the stop pipe. */
static void *
run(void *arg)
{
	struct qstate *st = arg;
	struct query *q = st->q;

#ifdef __linux__
	/* On Linux each thread has its own nice value (setpriority(2) on its tid): when the
	 * cores are busy, the scheduler gives the ingest threads the larger share. */
	errno = 0;
	int base = getpriority(PRIO_PROCESS, 0);
	if (errno == 0 &&
	    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), base + QUERY_NICE) < 0)
		log_warn("query thread: cannot lower its priority, ignoring");
#endif
	for (;;) {
		zmq_pollitem_t items[2] = {
		    {.socket = q->router, .events = ZMQ_POLLIN},
		    {.fd = q->stop_pipe[0], .events = ZMQ_POLLIN},
		};
		if (zmq_poll(items, 2, st->pending > 0 ? 0 : -1) < 0 && errno != EINTR) {
			log_warn("query thread: poll");
			break;
		}
		if (items[1].revents & ZMQ_POLLIN)
			break;
		if (take(st) < 0)
			log_warn("query socket");
		serve_round(st);
	}
	return NULL; /* query_stop() frees the state, queued requests with it */
}

/* Frees the thread's state and the requests still queued. Takes NULL. */
static void
qstate_free(struct qstate *st)
{
	if (st == NULL)
		return;
	for (uint32_t i = 0; st->pool != NULL && i <= st->cap; i++) {
		zmq_msg_close(&st->pool[i].id);
		zmq_msg_close(&st->pool[i].body);
	}
	free(st->pool);
	free(st->clients);
	free(st);
}

/* The queue state: a pool of cap requests (max_pending), one scratch slot for a request
 * refused when the pool is full, and room for as many clients as requests. */
static struct qstate *
qstate_new(struct query *q, uint32_t cap)
{
	struct qstate *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->q = q;
	st->cap = cap;
	st->clients = calloc(cap, sizeof(*st->clients));
	st->pool = calloc((size_t)cap + 1, sizeof(*st->pool));
	if (st->pool == NULL || st->clients == NULL) {
		free(st->clients);
		free(st->pool);
		free(st);
		return NULL;
	}
	for (uint32_t i = 0; i <= cap; i++) {
		zmq_msg_init(&st->pool[i].id);
		zmq_msg_init(&st->pool[i].body);
		st->pool[i].next = i + 1 < cap ? (int)i + 1 : -1;
	}
	st->free_head = 0;
	return st;
}

/*
 * Starts the thread that owns the query socket from now on (a no-op when the socket is off).
 * Call once the feed and the store are open; signals stay with the main thread.
 * @return 0, -ENOMEM, or a negative errno of pipe() or pthread_create().
 */
int
query_start(struct query *q)
{
	sigset_t all, old;

	if (q->router == NULL)
		return 0;
	struct qstate *st = qstate_new(q, q->max_pending);
	if (st == NULL)
		return -ENOMEM;
	if (pipe(q->stop_pipe) < 0 || fcntl(q->stop_pipe[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(q->stop_pipe[1], F_SETFD, FD_CLOEXEC) < 0) {
		int r = -errno;
		qstate_free(st);
		return r;
	}
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	/* the socket moves to the thread: pthread_create is the barrier libzmq asks for */
	int r = pthread_create(&q->thread, NULL, run, st);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		qstate_free(st);
		return -r;
	}
	q->state = st;
	q->started = true;
	return 0;
}

/* Stops and joins the thread; the socket is the caller's again. Idempotent. */
void
query_stop(struct query *q)
{
	if (q->started) {
		(void)!write(q->stop_pipe[1], "", 1);
		(void)pthread_join(q->thread, NULL);
		qstate_free(q->state);
		q->state = NULL;
		q->started = false;
	}
	for (int i = 0; i < 2; i++) {
		if (q->stop_pipe[i] >= 0)
			(void)close(q->stop_pipe[i]);
		q->stop_pipe[i] = -1;
	}
}
