/*
 * web_conn.c: the HTTP listener's header deadline (issue 14). libmicrohttpd's connection
 * timeout is an idle timeout, which a client trickling one byte a second resets for ever, so
 * a few such clients could hold every connection slot. Every connection is registered here
 * when it opens (MHD_OPTION_NOTIFY_CONNECTION) with a deadline; the access handler stops the
 * clock once a request's line and headers are complete, and the end of a request
 * (MHD_OPTION_NOTIFY_COMPLETED) starts it again for the next request of a kept-alive
 * connection. A reaper thread shuts down, four times a second, every connection still
 * waiting past its deadline: its libmicrohttpd thread then sees the end of the stream and
 * closes it.
 *
 * The reaper shuts down a duplicate of the connection's socket, taken when it opened and
 * closed when libmicrohttpd reports it closed: the number can never name another file.
 * Memory: one struct conn (32 bytes) and one file descriptor per open connection, bounded by
 * the listener's connection limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "web_int.h"

#define REAP_EVERY_MS 250

struct conn {
	struct conn *prev, *next;
	int fd;              /* our duplicate of the socket; -1 if dup failed (never reaped) */
	bool waiting;        /* the request line and headers are not complete yet */
	int64_t deadline_ms; /* monotonic; meaningful while waiting */
};

struct web_conn {
	pthread_mutex_t mu; /* guards the list, the counters and stop */
	pthread_cond_t cv;  /* wakes the reaper early to stop */
	pthread_t reaper;
	bool stop;
	int64_t timeout_ms;
	struct conn *head;
	unsigned open;
	uint64_t cut; /* connections shut down for a late request */
};

/* Shuts down, under the lock, the connections whose deadline has passed. */
static void
reap(struct web_conn *g, int64_t now)
{
	for (struct conn *c = g->head; c != NULL; c = c->next)
		if (c->waiting && c->fd >= 0 && now >= c->deadline_ms) {
			(void)shutdown(c->fd, SHUT_RDWR);
			c->waiting = false; /* once: its thread closes it at its next poll */
			g->cut++;
		}
}

static void *
reaper_main(void *arg)
{
	struct web_conn *g = arg;

	(void)pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		struct timespec ts;
		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		reap(g, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		ts.tv_nsec += REAP_EVERY_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&g->cv, &g->mu, &ts);
	}
	(void)pthread_mutex_unlock(&g->mu);
	return NULL;
}

/*
 * Starts the reaper: a request's line and headers must be complete within timeout_s of the
 * connection opening, or of the previous request ending on a kept-alive connection.
 * @param[out] ret freed with web_conn_free() after libmicrohttpd has stopped
 * @return 0, -ENOMEM, or pthread's error as a negative errno.
 */
int
web_conn_new(unsigned timeout_s, struct web_conn **ret)
{
	struct web_conn *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	int r = -ENOMEM;

	if (g == NULL)
		return -ENOMEM;
	g->timeout_ms = (int64_t)timeout_s * 1000;
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return -ENOMEM;
	}
	if (pthread_condattr_init(&ca) == 0) {
		(void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		r = -pthread_cond_init(&g->cv, &ca);
		(void)pthread_condattr_destroy(&ca);
	}
	if (r == 0 && (r = -pthread_create(&g->reaper, NULL, reaper_main, g)) != 0)
		(void)pthread_cond_destroy(&g->cv);
	if (r != 0) {
		(void)pthread_mutex_destroy(&g->mu);
		free(g);
		return r;
	}
	*ret = g;
	return 0;
}

/* Stops the reaper and frees g (libmicrohttpd must be stopped). Takes NULL; returns NULL. */
struct web_conn *
web_conn_free(struct web_conn *g)
{
	if (g == NULL)
		return NULL;
	(void)pthread_mutex_lock(&g->mu);
	g->stop = true;
	(void)pthread_cond_signal(&g->cv);
	(void)pthread_mutex_unlock(&g->mu);
	(void)pthread_join(g->reaper, NULL);
	while (g->head != NULL) { /* none after MHD_stop_daemon(); kept for a half-built one */
		struct conn *c = g->head;
		g->head = c->next;
		if (c->fd >= 0)
			(void)close(c->fd);
		free(c);
	}
	(void)pthread_cond_destroy(&g->cv);
	(void)pthread_mutex_destroy(&g->mu);
	free(g);
	return NULL;
}

/* Registers an opened connection, unregisters a closed one (MHD_OPTION_NOTIFY_CONNECTION). */
void
web_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct web_conn *g = cls;
	struct conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *i =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return; /* out of memory: this one has no deadline, only the idle timeout */
		c->fd = i != NULL ? fcntl(i->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
		c->waiting = true;
		c->deadline_ms = now_monotonic_ms() + g->timeout_ms;
		(void)pthread_mutex_lock(&g->mu);
		c->next = g->head;
		if (g->head != NULL)
			g->head->prev = c;
		g->head = c;
		g->open++;
		(void)pthread_mutex_unlock(&g->mu);
		*socket_context = c;
		return;
	}
	if (c == NULL)
		return;
	(void)pthread_mutex_lock(&g->mu);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		g->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	g->open--;
	(void)pthread_mutex_unlock(&g->mu);
	if (c->fd >= 0)
		(void)close(c->fd);
	free(c);
	*socket_context = NULL;
}

/* Sets whether conn waits for a request, restarting its deadline when it does. */
static void
set_waiting(struct web_conn *g, struct MHD_Connection *conn, bool waiting)
{
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *c = i != NULL ? i->socket_context : NULL;

	if (g == NULL || c == NULL)
		return;
	(void)pthread_mutex_lock(&g->mu);
	c->waiting = waiting;
	c->deadline_ms = now_monotonic_ms() + g->timeout_ms;
	(void)pthread_mutex_unlock(&g->mu);
}

/* The access handler has a request's line and headers: no deadline while it is served. */
void
web_conn_request(struct web_conn *g, struct MHD_Connection *conn)
{
	set_waiting(g, conn, false);
}

/* A request ended (MHD_OPTION_NOTIFY_COMPLETED): the next one has timeout_s to arrive. */
void
web_conn_completed(
    void *cls, struct MHD_Connection *conn, void **req, enum MHD_RequestTerminationCode toe)
{
	(void)req, (void)toe;
	set_waiting(cls, conn, true);
}

/* Connections open, and shut down for a late request since start (for /metrics). */
void
web_conn_counts(struct web_conn *g, unsigned *ret_open, uint64_t *ret_cut)
{
	*ret_open = 0, *ret_cut = 0;
	if (g == NULL)
		return;
	(void)pthread_mutex_lock(&g->mu);
	*ret_open = g->open;
	*ret_cut = g->cut;
	(void)pthread_mutex_unlock(&g->mu);
}
