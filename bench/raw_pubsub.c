/*
 * raw_pubsub.c: the ceiling the ingest benchmark is compared with. The same ZeroMQ socket
 * pair as zonetallyd's ingest (an XPUB publisher connecting to a SUB that binds, over TCP
 * loopback), the same two-frame messages ("ev.330100" + a TradeEvent-sized payload), and no
 * processing at all: whatever zonetallyd achieves is a fraction of this.
 *
 * usage: raw_pubsub MESSAGE_COUNT [PAYLOAD_BYTES]
 * Prints the received rate, timed from the first message received (libzmq perf style).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#define TOPIC        "ev.330100"
#define MAX_PAYLOAD  4096
#define ENDPOINT_MAX 256

struct pub_args {
	void *ctx;
	char endpoint[ENDPOINT_MAX];
	unsigned long count;
	size_t payload;
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

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The publisher: waits for the subscription (XPUB delivers it) so that no message is lost
 * to the slow-joiner race, then sends without a high-water mark, as zonetally-pub does.
 */
static void *
publish(void *arg)
{
	struct pub_args *a = arg;
	uint8_t payload[MAX_PAYLOAD];
	char sub[64];
	int zero = 0, linger = -1;
	void *s = zmq_socket(a->ctx, ZMQ_XPUB);

	a->rc = -1;
	if (s == NULL)
		return NULL;
	memset(payload, 0x5a, sizeof(payload));
	if (zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_connect(s, a->endpoint) != 0 || zmq_recv(s, sub, sizeof(sub), 0) < 1)
		goto out;
	for (unsigned long i = 0; i < a->count; i++) {
		if (zmq_send(s, TOPIC, strlen(TOPIC), ZMQ_SNDMORE) < 0 ||
		    zmq_send(s, payload, a->payload, 0) < 0)
			goto out;
	}
	a->rc = 0;
out:
	(void)zmq_close(s);
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

/* Receives count two-frame messages; returns the seconds from the first to the last. */
static int
receive(void *s, unsigned long count, double *ret_elapsed)
{
	uint8_t buf[MAX_PAYLOAD];
	double start = 0;

	for (unsigned long i = 0; i < count; i++) {
		int more = 0;
		size_t len = sizeof(more);

		if (zmq_recv(s, buf, sizeof(buf), 0) < 0)
			return -errno;
		if (i == 0)
			start = now_s();
		if (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &len) != 0 || !more ||
		    zmq_recv(s, buf, sizeof(buf), 0) < 0)
			return -EPROTO;
	}
	*ret_elapsed = now_s() - start;
	return 0;
}

int
main(int argc, char **argv)
{
	struct pub_args a = {.payload = 70};
	unsigned long payload = 70;
	pthread_t thr;
	double elapsed = 0;
	void *sub;
	int rc;

	if (argc < 2 || argc > 3 || parse_count(argv[1], 1000000000ul, &a.count) != 0 ||
	    (argc == 3 && parse_count(argv[2], MAX_PAYLOAD, &payload) != 0)) {
		fprintf(stderr, "usage: raw_pubsub MESSAGE_COUNT [PAYLOAD_BYTES (1..%d)]\n",
		    MAX_PAYLOAD);
		return 2;
	}
	a.payload = payload;
	a.ctx = zmq_ctx_new();
	sub = a.ctx ? bind_sub(a.ctx, a.endpoint, sizeof(a.endpoint)) : NULL;
	if (sub == NULL || pthread_create(&thr, NULL, publish, &a) != 0) {
		fprintf(stderr, "raw_pubsub: cannot set up sockets: %s\n", zmq_strerror(errno));
		return 1;
	}
	rc = receive(sub, a.count, &elapsed);
	(void)pthread_join(thr, NULL);
	(void)zmq_close(sub);
	(void)zmq_ctx_term(a.ctx);
	if (rc != 0 || a.rc != 0 || elapsed <= 0) {
		fprintf(stderr, "raw_pubsub: transfer failed: %s\n", strerror(rc ? -rc : EIO));
		return 1;
	}
	printf("message size: %s + %zu [B]\n", TOPIC, a.payload);
	printf("message count: %lu\n", a.count);
	printf("throughput: %.0f [msg/s]\n", (double)a.count / elapsed);
	return 0;
}
