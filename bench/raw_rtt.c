/*
 * raw_rtt.c: the ceiling of the remote get figure. The query socket's shape (a DEALER
 * client, a ROUTER server, each in its own ZeroMQ context as two processes would be, TCP
 * loopback, an empty delimiter frame and a request of a get's size answered by a reply of a
 * get's size) with no work in between: the server echoes a fixed reply. Whatever a remote
 * get costs above this is zonetallyd's; this much is ZeroMQ's I/O threads and the kernel.
 *
 * usage: raw_rtt ROUND_TRIPS
 * Prints "raw zmq round trip ... p50 X p99 Y p999 Z [us]", the format of bench/monitor.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "benchclock.h"

#define REQUEST_BYTES 24  /* a get request: op, level, code, period */
#define REPLY_BYTES   160 /* a get reply: a totals block and the feed_seq */
#define ENDPOINT_MAX  256

struct server {
	void *ctx;
	void *router;
	int rc;
};

/* Answers every [identity, "", request] with [identity, "", reply] until a 0-byte request. */
static void *
serve(void *arg)
{
	struct server *s = arg;
	uint8_t reply[REPLY_BYTES] = {0};

	for (;;) {
		zmq_msg_t id, delim, req;
		zmq_msg_init(&id);
		zmq_msg_init(&delim);
		zmq_msg_init(&req);
		if (zmq_msg_recv(&id, s->router, 0) < 0 || zmq_msg_recv(&delim, s->router, 0) < 0 ||
		    zmq_msg_recv(&req, s->router, 0) < 0) {
			s->rc = -errno;
			return NULL;
		}
		size_t len = zmq_msg_size(&req);
		int r = len == 0 ? 0
		    : zmq_msg_send(&id, s->router, ZMQ_SNDMORE) < 0 ||
		        zmq_send(s->router, "", 0, ZMQ_SNDMORE) < 0 ||
		        zmq_send(s->router, reply, sizeof(reply), 0) < 0
		    ? -errno
		    : 1;
		zmq_msg_close(&id);
		zmq_msg_close(&delim);
		zmq_msg_close(&req);
		if (r <= 0) {
			s->rc = r;
			return NULL;
		}
	}
}

/* One round trip of the client; returns its nanoseconds or -1. */
static int64_t
round_trip(void *dealer)
{
	uint8_t req[REQUEST_BYTES] = {1}, buf[REPLY_BYTES];
	int64_t t0 = bench_now_ns();

	if (zmq_send(dealer, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(dealer, req, sizeof(req), 0) < 0)
		return -1;
	if (zmq_recv(dealer, buf, sizeof(buf), 0) < 0 || zmq_recv(dealer, buf, sizeof(buf), 0) < 0)
		return -1;
	return bench_now_ns() - t0;
}

static int
measure(const char *endpoint, size_t n, int64_t *v)
{
	void *ctx = zmq_ctx_new();
	void *dealer = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
	int linger = 0, r = 0;

	if (dealer == NULL || zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_connect(dealer, endpoint) < 0)
		r = -1;
	for (size_t i = 0; r == 0 && i <= n; i++) {
		int64_t t = round_trip(dealer);
		if (t < 0)
			r = -1;
		else if (i > 0) /* the first one connects */
			v[i - 1] = t;
	}
	if (r == 0)
		(void)zmq_send(dealer, "", 0, ZMQ_SNDMORE), (void)zmq_send(dealer, "", 0, 0);
	if (dealer != NULL)
		(void)zmq_close(dealer);
	if (ctx != NULL)
		(void)zmq_ctx_term(ctx);
	return r;
}

int
main(int argc, char **argv)
{
	struct server s = {.ctx = zmq_ctx_new()};
	char endpoint[ENDPOINT_MAX];
	size_t len = sizeof(endpoint), n = argc == 2 ? strtoul(argv[1], NULL, 10) : 0;
	pthread_t t;
	int linger = 0;

	if (n == 0 || n > 100000000) {
		fprintf(stderr, "usage: raw_rtt ROUND_TRIPS\n");
		return 2;
	}
	int64_t *v = calloc(n, sizeof(*v));
	s.router = s.ctx ? zmq_socket(s.ctx, ZMQ_ROUTER) : NULL;
	if (v == NULL || s.router == NULL ||
	    zmq_setsockopt(s.router, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_bind(s.router, "tcp://127.0.0.1:*") < 0 ||
	    zmq_getsockopt(s.router, ZMQ_LAST_ENDPOINT, endpoint, &len) < 0 ||
	    pthread_create(&t, NULL, serve, &s) != 0) {
		fprintf(stderr, "raw_rtt: %s\n", zmq_strerror(errno));
		return 1;
	}
	if (measure(endpoint, n, v) < 0) {
		/* the server thread may still wait for a request: exiting ends it */
		fprintf(stderr, "raw_rtt: round trip failed: %s\n", zmq_strerror(errno));
		return 1;
	}
	(void)pthread_join(t, NULL);
	(void)zmq_close(s.router);
	(void)zmq_ctx_term(s.ctx);
	if (s.rc < 0) {
		fprintf(stderr, "raw_rtt: server failed: %s\n", zmq_strerror(-s.rc));
		return 1;
	}
	qsort(v, n, sizeof(*v), bench_cmp_i64);
	printf("%-40s p50 %10.2f  p99 %10.2f  p999 %10.2f  [us]  (%zu samples)\n",
	    "raw zmq round trip (DEALER-ROUTER)", (double)v[n / 2] / 1000.0,
	    (double)v[n * 99 / 100] / 1000.0, (double)v[n * 999 / 1000] / 1000.0, n);
	free(v);
	return 0;
}
