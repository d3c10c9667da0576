/*
 * isolation.c: issue 14's misbehaving clients, each run beside the ingest benchmark until
 * SIGTERM. Each prints "ready" on stdout once it is doing harm, and what it got at the end:
 *   isolation flood QUERY_EP DEALERS OUTSTANDING   snapshot requests (prefix "", every
 *       code), OUTSTANDING in flight on each DEALER; prints answers/s and error replies
 *   isolation watchers FEED_EP N    N SUB sockets on the feed, subscribed to everything,
 *       that never read once subscribed (each got one message: the subscription is live),
 *       with a receive high-water mark of 1 and a 4 KiB kernel receive buffer
 *   isolation slowloris ADDR:PORT N   N connections to the HTTP listener, from 127.0.0.2
 *       to 127.0.0.5 in turn, that trickle one header byte each per second and never finish
 *       the request (a connection the server closes is opened again); meanwhile, from
 *       127.0.0.1, GET /metrics once a second with a 2 s timeout; prints how many of those
 *       scrapes were answered
 *   isolation reader STATE_DIR    holds one LMDB read transaction on the store (a
 *       zt_reader snapshot) for as long as it runs
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "benchclock.h"

#include "zonetally.h"
#include "zonetally.pb-c.h"

#define SLOW_MAX    1024
/* Slow client i connects from 127.0.0.2 .. 127.0.0.5 (Linux routes all of 127/8 to lo), the
 * scrape from 127.0.0.1: a monitoring host is not the misbehaving one, and a daemon that
 * limits connections per address must still answer it. */
#define SLOW_SRC(i) (2u + (unsigned)(i) % 4u)

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
handle_term(void)
{
	struct sigaction sa = {.sa_handler = on_term};

	(void)sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
}

/* A count argument: 0 (refused by the callers) unless 1..1000000. */
static int
count_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *end == '\0' && v >= 1 && v <= 1000000 ? (int)v : 0;
}

/* Sleeps in short steps until SIGTERM (no pause(): a signal just before it would be lost). */
static void
wait_term(void)
{
	struct timespec step = {.tv_nsec = 100000000};

	while (!stop)
		(void)nanosleep(&step, NULL);
}

static void
ready(void)
{
	printf("ready\n");
	(void)fflush(stdout);
}

/* --- snapshot flood ---------------------------------------------------------------------- */

/* Sends ["", QueryRequest{op = SNAPSHOT, prefix = ""}] on a DEALER. */
static int
send_snapshot(void *sock, uint64_t id)
{
	static char every[] = ""; /* protobuf-c's field is not const */
	Zonetally__V1__QueryRequest rq = ZONETALLY__V1__QUERY_REQUEST__INIT;
	uint8_t buf[64];

	rq.has_request_id = 1;
	rq.request_id = id;
	rq.has_op = 1;
	rq.op = ZONETALLY__V1__QUERY_OP__QUERY_SNAPSHOT;
	rq.prefix = every;
	size_t len = zonetally__v1__query_request__pack(&rq, buf);
	if (zmq_send(sock, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(sock, buf, len, 0) < 0)
		return -errno;
	return 0;
}

/* Reads one answer (its frames); *ret_error: the daemon answered with an error ("busy"). */
static int
recv_answer(void *sock, bool *ret_error)
{
	zmq_msg_t m;
	int more = 1, r = -1;

	zmq_msg_init(&m);
	while (more && zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) >= 0) {
		more = zmq_msg_more(&m);
		if (!more) {
			Zonetally__V1__QueryResponse *a = zonetally__v1__query_response__unpack(
			    NULL, zmq_msg_size(&m), zmq_msg_data(&m));
			*ret_error = a == NULL || a->error != NULL;
			if (a != NULL)
				zonetally__v1__query_response__free_unpacked(a, NULL);
			r = 0;
		}
	}
	zmq_msg_close(&m);
	return r;
}

static int
flood(const char *ep, int dealers, int outstanding)
{
	void *ctx = zmq_ctx_new();
	zmq_pollitem_t it[16];
	uint64_t id = 0, answers = 0, errors = 0;
	int linger = 0;

	if (dealers < 1 || dealers > 16 || outstanding < 1)
		return 2;
	for (int d = 0; d < dealers; d++) {
		it[d] =
		    (zmq_pollitem_t){.socket = zmq_socket(ctx, ZMQ_DEALER), .events = ZMQ_POLLIN};
		if (it[d].socket == NULL ||
		    zmq_setsockopt(it[d].socket, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
		    zmq_connect(it[d].socket, ep) < 0)
			return 1;
		for (int k = 0; k < outstanding; k++)
			if (send_snapshot(it[d].socket, ++id) < 0)
				return 1;
	}
	int64_t t0 = bench_now_ns();
	while (!stop) {
		if (zmq_poll(it, dealers, 100) <= 0)
			continue;
		for (int d = 0; d < dealers; d++) {
			bool err = false;
			while (
			    (it[d].revents & ZMQ_POLLIN) && recv_answer(it[d].socket, &err) == 0) {
				if (answers++ == 0)
					ready();
				errors += err;
				(void)send_snapshot(
				    it[d].socket, ++id); /* keep OUTSTANDING in flight */
			}
		}
	}
	double s = (double)(bench_now_ns() - t0) / 1e9;
	printf("snapshots: %" PRIu64 " answered (%" PRIu64
	       " errors) in %.1f [s]: %.0f [answers/s]\n",
	    answers, errors, s, (double)answers / s);
	for (int d = 0; d < dealers; d++)
		(void)zmq_close(it[d].socket);
	(void)zmq_ctx_term(ctx);
	return 0;
}

/* --- stalled watchers -------------------------------------------------------------------- */

static int
watchers(const char *ep, int n)
{
	void *ctx = zmq_ctx_new();
	void **sub = calloc((size_t)n, sizeof(*sub));
	int linger = 0, hwm = 1, rcvbuf = 4096;
	char buf[256];

	if (sub == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		sub[i] = zmq_socket(ctx, ZMQ_SUB);
		/* the smallest queues a peer may ask for: what it does not take, the daemon holds
		 */
		if (sub[i] == NULL ||
		    zmq_setsockopt(sub[i], ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
		    zmq_setsockopt(sub[i], ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
		    zmq_setsockopt(sub[i], ZMQ_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0 ||
		    zmq_setsockopt(sub[i], ZMQ_SUBSCRIBE, "", 0) < 0 || zmq_connect(sub[i], ep) < 0)
			return 1;
	}
	/* one message each (a heartbeat at least, every heartbeat_ms): the subscription is in */
	for (int i = 0; i < n && !stop; i++) {
		zmq_pollitem_t it = {.socket = sub[i], .events = ZMQ_POLLIN};
		if (zmq_poll(&it, 1, 10000) <= 0) {
			fprintf(
			    stderr, "isolation: watcher %d got nothing from %s in 10 s\n", i, ep);
			return 1;
		}
		(void)zmq_recv(sub[i], buf, sizeof(buf), 0);
	}
	ready();
	wait_term(); /* never read again: the daemon's queues to us fill */
	for (int i = 0; i < n; i++)
		(void)zmq_close(sub[i]);
	(void)zmq_ctx_term(ctx);
	free(sub);
	printf("watchers: %d stalled\n", n);
	return 0;
}

/* --- slow HTTP clients ------------------------------------------------------------------- */

/* A non-blocking TCP connection to addr, from the loopback address 127.0.0.src (0: the
 * kernel's choice), or -1. */
static int
tcp_open(const struct sockaddr_in *addr, unsigned src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in from = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000u | src)};

	if (fd < 0)
		return -1;
	if ((src != 0 && bind(fd, (const struct sockaddr *)&from, sizeof(from)) < 0) ||
	    (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 &&
	        errno != EINPROGRESS)) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* GET /metrics with a 2 s deadline: true if a "HTTP/1.x 200" status line came back. */
static bool
scrape(const struct sockaddr_in *addr)
{
	static const char req[] =
	    "GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
	char buf[64];
	int fd = tcp_open(addr, 0);
	size_t sent = 0, got = 0;
	int64_t deadline = bench_now_ns() + 2 * (int64_t)1000000000;

	while (fd >= 0 && got < 12 && bench_now_ns() < deadline) {
		struct pollfd p = {.fd = fd, .events = sent < sizeof(req) - 1 ? POLLOUT : POLLIN};
		int left = (int)((deadline - bench_now_ns()) / 1000000);
		if (poll(&p, 1, left > 0 ? left : 1) <= 0)
			continue;
		ssize_t k = sent < sizeof(req) - 1 ? send(fd, req + sent, sizeof(req) - 1 - sent, 0)
		                                   : recv(fd, buf + got, sizeof(buf) - got, 0);
		if (k <= 0)
			break;
		*(sent < sizeof(req) - 1 ? &sent : &got) += (size_t)k;
	}
	if (fd >= 0)
		(void)close(fd);
	return got >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 && memcmp(buf + 9, "200", 3) == 0;
}

/* The next byte a slow client sends: a request line, then one header that never ends. */
static char
slow_byte(size_t k)
{
	static const char head[] = "GET /metrics HTTP/1.1\r\nHost: bench\r\nX-Slow: ";

	return k < sizeof(head) - 1 ? head[k] : 'a';
}

static int
slowloris(const char *hostport, int n)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	const char *colon = strrchr(hostport, ':');
	int fd[SLOW_MAX];
	size_t pos[SLOW_MAX] = {0};
	uint64_t reopened = 0, scrapes = 0, answered = 0;
	char host[64];

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host) || n < 1 || n > SLOW_MAX)
		return 2;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	addr.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return 2;
	for (int i = 0; i < n; i++)
		if ((fd[i] = tcp_open(&addr, SLOW_SRC(i))) < 0)
			return 1;
	ready();
	while (!stop) {
		struct timespec second = {.tv_sec = 1};
		for (int i = 0; i < n; i++) {
			char c = slow_byte(pos[i]);
			ssize_t k = fd[i] >= 0 ? send(fd[i], &c, 1, MSG_NOSIGNAL) : -1;
			if (k == 1) {
				pos[i]++;
			} else if (k < 0 && errno != EAGAIN && errno != EINTR) {
				if (fd[i] >= 0) /* closed by the server: come back */
					(void)close(fd[i]);
				fd[i] = tcp_open(&addr, SLOW_SRC(i));
				pos[i] = 0;
				reopened++;
			}
		}
		scrapes++;
		answered += scrape(&addr);
		(void)nanosleep(&second, NULL);
	}
	printf("slowloris: %d connections, %" PRIu64 " reopened; /metrics answered %" PRIu64
	       " of %" PRIu64 " scrapes: %.0f [%%]\n",
	    n, reopened, answered, scrapes,
	    scrapes ? 100.0 * (double)answered / (double)scrapes : 0);
	for (int i = 0; i < n; i++)
		if (fd[i] >= 0)
			(void)close(fd[i]);
	return 0;
}

/* --- stuck reader ------------------------------------------------------------------------ */

static int
reader(const char *dir)
{
	struct zt_reader *r;
	struct zt_totals t;
	struct zt_period all = {.gran = ZT_GRAN_ALL};
	int e = zt_reader_open(dir, &r);

	if (e < 0 || (e = zt_reader_begin(r)) < 0 ||
	    (e = zt_reader_total(r, ZT_LEVEL_NATION, 0, &all, ZT_DIR_ALL, ZT_MODE_ALL, &t)) < 0) {
		fprintf(stderr, "isolation: %s: %s\n", dir, zt_strerror(e));
		return 1;
	}
	ready();
	wait_term(); /* the snapshot stays: LMDB cannot reuse a page freed after it */
	zt_reader_end(r);
	zt_reader_free(r);
	printf("reader: held one read transaction\n");
	return 0;
}

int
main(int argc, char **argv)
{
	handle_term();
	if (argc == 5 && strcmp(argv[1], "flood") == 0)
		return flood(argv[2], count_arg(argv[3]), count_arg(argv[4]));
	if (argc == 4 && strcmp(argv[1], "watchers") == 0)
		return watchers(argv[2], count_arg(argv[3]));
	if (argc == 4 && strcmp(argv[1], "slowloris") == 0)
		return slowloris(argv[2], count_arg(argv[3]));
	if (argc == 3 && strcmp(argv[1], "reader") == 0)
		return reader(argv[2]);
	fprintf(stderr,
	    "usage: isolation flood QUERY_EP DEALERS OUTSTANDING | watchers FEED_EP N"
	    " | slowloris ADDR:PORT N | reader STATE_DIR\n");
	return 2;
}
