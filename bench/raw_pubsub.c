/*
 * raw_pubsub.c: the ceiling the ingest benchmark is compared with. The same ZeroMQ socket
 * pair as zonetallyd's ingest (an XPUB publisher connecting to a SUB that binds, over TCP
 * loopback), the same two-frame messages ("ev.330100" + a TradeEvent-sized payload), and no
 * processing at all: whatever zonetallyd achieves is a fraction of this.
 *
 * usage: raw_pubsub MESSAGE_COUNT [PAYLOAD_BYTES [FRAMES]]
 *        raw_pubsub sink MESSAGE_COUNT
 * Prints the received rate, timed from the first message received (libzmq perf style).
 *
 * Why it is honest: the publisher and the subscriber each have their own context, so their
 * own I/O thread, as two processes (zonetally-pub, zonetallyd) do; the publisher sends the
 * payload frame without a copy (zmq_send_const), as `zonetally-pub --preencode` does; the
 * subscriber receives into zmq_msg_t, as zonetallyd does. FRAMES = 1 sends the topic and
 * payload as one frame: about 1.5x the two-frame rate, since ZeroMQ's cost is per frame;
 * that is where a "4.8 M msg/s" figure for ~66-byte messages comes from, and it is not our
 * wire format, so it is not the ceiling.
 *
 * `sink` mode binds the same SUB, prints "endpoint: EP" and then the rate at which it
 * receives MESSAGE_COUNT two-frame messages from any publisher (zonetally-pub): the load
 * generator's own ceiling, without a daemon behind it.
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

#define TOPIC        "ev.330100"
#define MAX_PAYLOAD  4096
#define ENDPOINT_MAX 256

struct pub_args {
	char endpoint[ENDPOINT_MAX];
	unsigned long count;
	size_t payload;
	int frames;
	int rc;
};

/* Parses a positive decimal number in [1, max]; returns 0 or -EINVAL. */
static int
parse_count(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Sends count messages of one or two frames; the payload is never copied. */
static int
send_all(void *s, const struct pub_args *a, const uint8_t *payload)
{
	for (unsigned long i = 0; i < a->count; i++) {
		if (a->frames == 2 && zmq_send(s, TOPIC, strlen(TOPIC), ZMQ_SNDMORE) < 0)
			return -1;
		if (zmq_send_const(s, payload, a->payload, 0) < 0)
			return -1;
	}
	return 0;
}

/*
 * The publisher, in its own context: waits for the subscription (XPUB delivers it) so that
 * no message is lost to the slow-joiner race, then sends without a high-water mark, as
 * zonetally-pub does. The payload buffer outlives the context (zmq_send_const).
 */
static void *
publish(void *arg)
{
	static uint8_t payload[MAX_PAYLOAD];
	struct pub_args *a = arg;
	char sub[64];
	int zero = 0, linger = -1;
	void *ctx = zmq_ctx_new();
	void *s = ctx != NULL ? zmq_socket(ctx, ZMQ_XPUB) : NULL;

	a->rc = -1;
	memcpy(payload, TOPIC, strlen(TOPIC)); /* a one-frame message starts with its topic */
	memset(payload + strlen(TOPIC), 0x5a, sizeof(payload) - strlen(TOPIC));
	if (s != NULL && zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof(zero)) == 0 &&
	    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) == 0 &&
	    zmq_connect(s, a->endpoint) == 0 && zmq_recv(s, sub, sizeof(sub), 0) >= 1)
		a->rc = send_all(s, a, payload);
	if (s != NULL)
		(void)zmq_close(s);
	if (ctx != NULL)
		(void)zmq_ctx_term(ctx);
	return NULL;
}

/* Binds the SUB like zonetallyd does (loopback, free port) and reports the endpoint. */
static void *
bind_sub(void *ctx, char *endpoint, size_t len)
{
	int hwm = 100000;
	void *s = zmq_socket(ctx, ZMQ_SUB);

	if (s == NULL)
		return NULL;
	if (zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
	    zmq_setsockopt(s, ZMQ_SUBSCRIBE, "ev.", 3) != 0 ||
	    zmq_bind(s, "tcp://127.0.0.1:*") != 0 ||
	    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0) {
		(void)zmq_close(s);
		return NULL;
	}
	return s;
}

/* Receives count messages of `frames` frames; returns the seconds from the first to the
 * last in *ret_elapsed. */
static int
receive(void *s, unsigned long count, int frames, double *ret_elapsed)
{
	double start = 0;
	zmq_msg_t m;

	zmq_msg_init(&m);
	for (unsigned long i = 0; i < count; i++) {
		for (int f = 0; f < frames; f++) {
			if (zmq_msg_recv(&m, s, 0) < 0)
				return -errno;
			if (zmq_msg_more(&m) != (f + 1 < frames))
				return -EPROTO;
		}
		if (i == 0)
			start = bench_now_s();
	}
	zmq_msg_close(&m);
	*ret_elapsed = bench_now_s() - start;
	return 0;
}

static void
print_rate(const char *what, unsigned long count, double elapsed)
{
	printf("%s\n", what);
	printf("message count: %lu\n", count);
	printf("throughput: %.0f [msg/s]\n", (double)count / elapsed);
}

/* `raw_pubsub sink N`: receives from whoever connects; prints the endpoint first. */
static int
sink(unsigned long count)
{
	char endpoint[ENDPOINT_MAX];
	double elapsed = 0;
	void *ctx = zmq_ctx_new();
	void *s = ctx != NULL ? bind_sub(ctx, endpoint, sizeof(endpoint)) : NULL;

	if (s == NULL) {
		fprintf(stderr, "raw_pubsub: cannot bind: %s\n", zmq_strerror(errno));
		return 1;
	}
	printf("endpoint: %s\n", endpoint);
	(void)fflush(stdout);
	int rc = receive(s, count, 2, &elapsed);
	(void)zmq_close(s);
	(void)zmq_ctx_term(ctx);
	if (rc != 0 || elapsed <= 0) {
		fprintf(stderr, "raw_pubsub: receive failed: %s\n", strerror(rc ? -rc : EIO));
		return 1;
	}
	print_rate("sink: two-frame messages from an external publisher", count, elapsed);
	return 0;
}

/* The pair in one process, each side with its own context. */
static int
pair(struct pub_args *a)
{
	char what[128];
	double elapsed = 0;
	pthread_t thr;
	void *ctx = zmq_ctx_new();
	void *s = ctx != NULL ? bind_sub(ctx, a->endpoint, sizeof(a->endpoint)) : NULL;

	if (s == NULL || pthread_create(&thr, NULL, publish, a) != 0) {
		fprintf(stderr, "raw_pubsub: cannot set up sockets: %s\n", zmq_strerror(errno));
		return 1;
	}
	int rc = receive(s, a->count, a->frames, &elapsed);
	(void)pthread_join(thr, NULL);
	(void)zmq_close(s);
	(void)zmq_ctx_term(ctx);
	if (rc != 0 || a->rc != 0 || elapsed <= 0) {
		fprintf(stderr, "raw_pubsub: transfer failed: %s\n", strerror(rc ? -rc : EIO));
		return 1;
	}
	if (a->frames == 2)
		(void)snprintf(what, sizeof(what), "message size: %s + %zu [B]", TOPIC, a->payload);
	else
		(void)snprintf(what, sizeof(what), "message size: %zu [B], one frame", a->payload);
	print_rate(what, a->count, elapsed);
	return 0;
}

int
main(int argc, char **argv)
{
	struct pub_args a = {.payload = 70, .frames = 2};
	unsigned long payload = 70, frames = 2;

	if (argc == 3 && strcmp(argv[1], "sink") == 0 &&
	    parse_count(argv[2], 1000000000ul, &a.count) == 0)
		return sink(a.count);
	if (argc < 2 || argc > 4 || parse_count(argv[1], 1000000000ul, &a.count) != 0 ||
	    (argc >= 3 && parse_count(argv[2], MAX_PAYLOAD, &payload) != 0) ||
	    (argc == 4 && parse_count(argv[3], 2, &frames) != 0) ||
	    (frames == 1 && payload < strlen(TOPIC))) {
		fprintf(stderr,
		    "usage: raw_pubsub MESSAGE_COUNT [PAYLOAD_BYTES (1..%d) [FRAMES (1|2)]]\n"
		    "       raw_pubsub sink MESSAGE_COUNT\n",
		    MAX_PAYLOAD);
		return 2;
	}
	a.payload = payload;
	a.frames = (int)frames;
	return pair(&a);
}
