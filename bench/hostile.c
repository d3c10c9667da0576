/*
 * hostile.c: issue 13's hostile batch shapes, libzmq-perf style. Every message of a shape
 * is encoded (libzonetally's zt_wire_pack) into one buffer before the clock starts, then
 * sent from it without a copy per message, as fast as the socket takes it.
 *
 * usage: hostile SHAPE ENDPOINT N ZONES_CSV [ARG [WINDOW]]
 * Events fall on 2022-11-11 CST in time order, with time-ordered ids (the 48-bit time,
 * then a counter), from one publisher, unless the shape says otherwise:
 *   ordered     N declarations: the reference the other shapes are divided by
 *   revunknown  N cancellations of ids never sent: all rejected as reversal_unknown
 *   revsame     N/2 declarations, each followed by its cancellation, whose id sorts before
 *               the original's, so that the batch holds both (N even)
 *   oneid       one declaration sent N times, byte for byte: 1 accepted, N - 1 duplicates
 *   spread      every event in another zone (those valid in 2022) and another of 30 days
 *   publishers  ARG publisher ids (default 100000) in turn, each numbering from 1
 *   gaps        sequences 1, 3, 5, ...: a gap after every sequence
 *   maxbatch    the acknowledged path: EventBatch frames of at most ARG bytes (type byte
 *               included) of minimal events, at most WINDOW events unacknowledged
 * ENDPOINT: the daemon's SUB endpoint (PUB path), its ROUTER endpoint for maxbatch.
 * Prints what the store must count ("expect: accepted A rejected R") and start_mono_ns:
 * CLOCK_MONOTONIC [ns] at the first send, the clock of bench/committed, which sees the
 * commit that completes the N. maxbatch returns once every event is acknowledged.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "benchclock.h"

#include "zonetally.h"
#include "zonetally.pb-c.h"

#define DAY0_MS     1668096000000LL /* 2022-11-11T00:00+08:00 */
#define DAY_MS      86400000LL
#define SPREAD_DAYS 30 /* within the default 35-day window of the newest event */
#define ZONE        330100u
#define NS_REV      0x01 /* id namespaces: a cancellation's id sorts before its original's */
#define NS_DECL     0x02
#define NS_UNSENT   0x03
#define LINGER_MS   600000
#define RESEND_MS   2000 /* maxbatch: resend what is unacknowledged after this long */

struct shape {
	const char *name;
	uint64_t n;
	uint64_t arg; /* publishers: ids; maxbatch: frame bytes */
	uint64_t window;
	int64_t step; /* ms between consecutive events */
	uint32_t *zones;
	size_t nzones;
};

/* Pre-encoded records: [u16 payload length][u8 topic length][topic][payload]. */
struct enc {
	uint8_t *buf;
	size_t len, cap, n;
};

static void
event_id(uint8_t id[ZT_EVENT_ID_LEN], int64_t t_ms, uint8_t ns, uint64_t k)
{
	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)((uint64_t)t_ms >> (40 - 8 * i));
	id[6] = ns;
	id[7] = 0;
	for (int i = 0; i < 8; i++)
		id[8 + i] = (uint8_t)(k >> (56 - 8 * i));
}

/* A valid declaration: export, 9610, id k of namespace NS_DECL at time t. */
static void
declaration(struct zt_wire *w, const char *pub, uint64_t seq, uint32_t zone, int64_t t, uint64_t k)
{
	memset(w, 0, sizeof(*w));
	w->has = ZT_W_EVENT_ID | ZT_W_PUBLISHER | ZT_W_SEQUENCE | ZT_W_ZONE | ZT_W_DIRECTION |
	    ZT_W_MODE | ZT_W_VALUE | ZT_W_ITEMS | ZT_W_TIME;
	event_id(w->id, t, NS_DECL, k);
	w->id_len = ZT_EVENT_ID_LEN;
	(void)snprintf(w->publisher, sizeof(w->publisher), "%s", pub);
	w->sequence = seq;
	w->zone = zone;
	w->direction = ZT_DIR_EXPORT;
	w->mode = ZT_MODE_9610;
	w->value_fen = 1000 + (int64_t)(k % 100000);
	w->items = 1 + (uint32_t)(k % 5);
	w->declared_at_ms = t;
}

/* Turns a declaration into its cancellation, with id k of namespace ns. */
static void
reverse(struct zt_wire *w, uint8_t ns, uint64_t k)
{
	memcpy(w->ref_id, w->id, ZT_EVENT_ID_LEN);
	w->ref_len = ZT_EVENT_ID_LEN;
	event_id(w->id, w->declared_at_ms, ns, k);
	w->kind = ZT_KIND_CANCELLATION;
	w->has |= ZT_W_KIND | ZT_W_REF_ID;
}

/* The i-th message of a PUB-path shape. */
static void
shape_event(const struct shape *s, uint64_t i, struct zt_wire *w)
{
	int64_t t = DAY0_MS + (int64_t)i * s->step;
	char pub[32];

	if (strcmp(s->name, "revunknown") == 0) {
		declaration(w, "hostile", i + 1, ZONE, t, i);
		event_id(w->id, t, NS_UNSENT, i); /* the original: never sent */
		reverse(w, NS_REV, i);
	} else if (strcmp(s->name, "revsame") == 0) {
		declaration(
		    w, "hostile", i + 1, ZONE, DAY0_MS + (int64_t)(i / 2) * 2 * s->step, i / 2);
		if (i % 2 == 1)
			reverse(w, NS_REV, i / 2);
	} else if (strcmp(s->name, "spread") == 0) {
		uint64_t d = i % SPREAD_DAYS;
		t = DAY0_MS - (int64_t)d * DAY_MS + (int64_t)(i / SPREAD_DAYS) * s->step;
		declaration(w, "hostile", i + 1, s->zones[i % s->nzones], t, i);
	} else if (strcmp(s->name, "publishers") == 0) {
		(void)snprintf(pub, sizeof(pub), "hp%06" PRIu64, i % s->arg);
		declaration(w, pub, i / s->arg + 1, ZONE, t, i);
	} else if (strcmp(s->name, "gaps") == 0) {
		declaration(w, "hostile", 2 * i + 1, ZONE, t, i);
	} else { /* ordered; oneid encodes its one event with this */
		declaration(w, "hostile", i + 1, ZONE, t, i);
	}
}

static int
enc_add(struct enc *e, const struct zt_wire *w)
{
	size_t need = e->len + 3 + ZT_TOPIC_LEN + ZT_WIRE_MSG_MAX;
	char topic[ZT_TOPIC_LEN + 1];

	if (need > e->cap) {
		size_t cap = e->cap == 0 ? (size_t)1 << 20 : e->cap * 2;
		uint8_t *nb = realloc(e->buf, cap > need ? cap : need);
		if (nb == NULL)
			return -ENOMEM;
		e->buf = nb;
		e->cap = cap > need ? cap : need;
	}
	uint8_t *rec = e->buf + e->len;
	zt_wire_topic(w, topic);
	size_t tlen = strlen(topic);
	memcpy(rec + 3, topic, tlen);
	size_t len = zt_wire_pack(w, rec + 3 + tlen);
	rec[0] = (uint8_t)(len & 0xff);
	rec[1] = (uint8_t)(len >> 8);
	rec[2] = (uint8_t)tlen;
	e->len += 3 + tlen + len;
	e->n++;
	return 0;
}

/* Waits for the daemon's subscription on an XPUB socket (no slow-joiner sleep). */
static int
wait_subscriber(void *sock)
{
	uint8_t msg[256];
	int64_t deadline = bench_now_ns() + 30 * (int64_t)1000000000;

	while (bench_now_ns() < deadline) {
		zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
		if (zmq_poll(&it, 1, 100) > 0 && zmq_recv(sock, msg, sizeof(msg), 0) > 0 &&
		    msg[0] == 1)
			return 0;
	}
	return -ETIMEDOUT;
}

/* Sends the records of e, `times` times over (oneid: one record, N times). */
static int
pub_send_all(const char *ep, const struct enc *e, uint64_t times)
{
	void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_XPUB);
	int zero = 0, one = 1, linger = LINGER_MS, r = 0;

	if (sock == NULL || zmq_setsockopt(sock, ZMQ_SNDHWM, &zero, sizeof(zero)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_XPUB_VERBOSE, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_connect(sock, ep) < 0 || wait_subscriber(sock) < 0) {
		fprintf(stderr, "hostile: %s: no subscription from the daemon\n", ep);
		return 1;
	}
	printf("start_mono_ns: %" PRId64 "\n", bench_now_ns());
	for (uint64_t k = 0; k < times && r == 0; k++) {
		for (size_t off = 0; off < e->len;) {
			const uint8_t *rec = e->buf + off;
			size_t len = (size_t)rec[0] | (size_t)rec[1] << 8, tlen = rec[2];
			if (zmq_send(sock, rec + 3, tlen, ZMQ_SNDMORE) < 0 ||
			    zmq_send_const(sock, rec + 3 + tlen, len, 0) < 0) {
				r = 1;
				break;
			}
			off += 3 + tlen + len;
		}
	}
	(void)zmq_close(sock); /* lingers until everything left */
	(void)zmq_ctx_term(ctx);
	return r;
}

/* One frame of maxbatch: its bytes in the buffer and its sequences. */
struct frame {
	size_t off, len;
	uint64_t last_seq;
};

/* Writes one packed TradeEvent at p as field 1 of an EventBatch; returns the bytes written. */
static size_t
batch_field(uint8_t *p, const uint8_t *ev, size_t len)
{
	size_t k = 0;

	p[k++] = 1u << 3 | 2;
	for (size_t v = len; k == 1 || v > 0; v >>= 7)
		p[k++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
	memcpy(p + k, ev, len);
	return k + len;
}

/* Encodes N minimal events (publisher "m", value 0, no items) into frames of at most
 * s->arg bytes. @return the frame count, or 0 on -ENOMEM. */
static size_t
encode_frames(const struct shape *s, uint8_t **ret_buf, struct frame **ret_f, size_t *ret_bytes)
{
	size_t cap = (size_t)s->n * 64 + s->arg, nf = 0, fcap = 16;
	uint8_t *buf = malloc(cap), ev[ZT_WIRE_MSG_MAX];
	struct frame *f = malloc(fcap * sizeof(*f));
	struct zt_wire w;
	size_t pos = 0;

	if (buf == NULL || f == NULL)
		goto fail;
	for (uint64_t i = 0; i < s->n; i++) {
		declaration(&w, "m", i + 1, ZONE, DAY0_MS + (int64_t)i * s->step, i);
		w.value_fen = 0;
		w.items = 0;
		size_t len = zt_wire_pack(&w, ev);
		*ret_bytes += len;
		if (nf == 0 || pos + len + 3 - f[nf - 1].off > s->arg) {
			if (nf == fcap) {
				struct frame *nfp = realloc(f, (fcap *= 2) * sizeof(*f));
				if (nfp == NULL)
					goto fail;
				f = nfp;
			}
			f[nf++] = (struct frame){.off = pos};
			buf[pos++] = 0x02; /* EventBatch */
		}
		pos += batch_field(buf + pos, ev, len);
		f[nf - 1].len = pos - f[nf - 1].off;
		f[nf - 1].last_seq = i + 1;
	}
	*ret_buf = buf;
	*ret_f = f;
	return nf;
fail:
	free(buf);
	free(f);
	return 0;
}

/* Reads one acknowledgement; raises *through (never lowers it) and counts rejections. */
static void
read_ack(void *sock, uint64_t *through, uint64_t *rejected)
{
	zmq_msg_t m;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) > 1) {
		const uint8_t *p = zmq_msg_data(&m);
		Zonetally__V1__IngestAck *a = p[0] == 0x03
		    ? zonetally__v1__ingest_ack__unpack(NULL, zmq_msg_size(&m) - 1, p + 1)
		    : NULL;
		if (a != NULL && a->publisher_id != NULL && strcmp(a->publisher_id, "m") == 0) {
			if (a->through_sequence > *through)
				*through = a->through_sequence;
			*rejected += a->n_rejected;
		}
		if (a != NULL)
			zonetally__v1__ingest_ack__free_unpacked(a, NULL);
	}
	zmq_msg_close(&m);
}

/* Sends the frames with at most s->window events unacknowledged, until all are acked;
 * everything unacknowledged again after RESEND_MS without progress. */
static int
router_send_all(
    const char *ep, const struct shape *s, const uint8_t *buf, const struct frame *f, size_t nf)
{
	void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
	uint64_t through = 0, rejected = 0, resent = 0;
	size_t next = 0;
	int linger = 0;

	if (sock == NULL || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_connect(sock, ep) < 0) {
		fprintf(stderr, "hostile: %s: %s\n", ep, zmq_strerror(errno));
		return 1;
	}
	int64_t t0 = bench_now_ns(), progress = t0;
	printf("start_mono_ns: %" PRId64 "\n", t0);
	while (through < s->n) {
		while (next < nf && f[next].last_seq - through <= s->window) {
			if (zmq_send_const(sock, buf + f[next].off, f[next].len, 0) < 0)
				return 1;
			next++;
		}
		zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
		if (zmq_poll(&it, 1, 100) > 0) {
			uint64_t was = through;
			read_ack(sock, &through, &rejected);
			if (through > was)
				progress = bench_now_ns();
		}
		if (bench_now_ns() - progress > RESEND_MS * (int64_t)1000000) {
			for (next = 0; next < nf && f[next].last_seq <= through; next++)
				;
			resent++;
			progress = bench_now_ns();
			if (resent > 30) {
				fprintf(stderr,
				    "hostile: no acknowledgement beyond %" PRIu64 " of %" PRIu64
				    " for a minute\n",
				    through, s->n);
				return 1;
			}
		}
	}
	printf("acked: %" PRIu64 " [ev] in %.3f [s], %" PRIu64 " rejected, %" PRIu64 " resends\n",
	    through, (double)(bench_now_ns() - t0) / 1e9, rejected, resent);
	(void)zmq_close(sock);
	(void)zmq_ctx_term(ctx);
	return rejected == 0 ? 0 : 1;
}

static int
run_maxbatch(const char *ep, struct shape *s)
{
	uint8_t *buf = NULL;
	struct frame *f = NULL;
	size_t bytes = 0, nf = encode_frames(s, &buf, &f, &bytes);

	if (nf == 0)
		return 1;
	for (size_t i = 0; i < nf; i++)
		if (f[i].last_seq - (i > 0 ? f[i - 1].last_seq : 0) > s->window) {
			fprintf(stderr, "hostile: a frame holds more than WINDOW events\n");
			free(buf);
			free(f);
			return 2;
		}
	printf("frames: %zu [EventBatch] of at most %" PRIu64 " [B], window %" PRIu64 " [ev]\n", nf,
	    s->arg, s->window);
	printf("event_bytes_mean: %.1f [B]\n", (double)bytes / (double)s->n);
	printf("expect: accepted %" PRIu64 " rejected 0\n", s->n);
	(void)fflush(stdout);
	int r = router_send_all(ep, s, buf, f, nf);
	free(buf);
	free(f);
	return r;
}

/* The 6-digit zones valid in 2022, for spread. @return their number, 0 on failure. */
static size_t
load_zones(const char *path, uint32_t **ret)
{
	struct zt_zone *z;
	size_t line = 0, n = 0;
	int nz = zt_registry_load_file(path, &z, &line);

	if (nz <= 0 || (*ret = calloc((size_t)nz, sizeof(**ret))) == NULL) {
		fprintf(stderr, "hostile: %s:%zu: %s\n", path, line, zt_strerror(nz));
		return 0;
	}
	for (int i = 0; i < nz; i++)
		if (zt_zone_valid_in(&z[i], 2022))
			(*ret)[n++] = z[i].code;
	free(z);
	return n;
}

/* What the store counts once the shape is in. */
static void
expect(const struct shape *s)
{
	if (strcmp(s->name, "revunknown") == 0)
		printf("expect: accepted 0 rejected %" PRIu64 "\n", s->n);
	else if (strcmp(s->name, "oneid") == 0)
		printf("expect: accepted 1 rejected 0\n");
	else
		printf("expect: accepted %" PRIu64 " rejected 0\n", s->n);
}

static int
run_pub(const char *ep, struct shape *s)
{
	static const char *names[] = {
	    "ordered", "revunknown", "revsame", "oneid", "spread", "publishers", "gaps"};
	struct enc e = {0};
	struct zt_wire w;
	bool known = false;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		known = known || strcmp(s->name, names[i]) == 0;
	if (!known || (strcmp(s->name, "revsame") == 0 && s->n % 2 != 0)) {
		fprintf(stderr, "hostile: unknown shape '%s' (or revsame with N odd)\n", s->name);
		return 2;
	}
	uint64_t distinct = strcmp(s->name, "oneid") == 0 ? 1 : s->n;
	for (uint64_t i = 0; i < distinct; i++) {
		shape_event(s, i, &w);
		if (enc_add(&e, &w) < 0) {
			fprintf(stderr, "hostile: out of memory encoding %" PRIu64 "\n", s->n);
			return 1;
		}
	}
	printf("event_bytes_mean: %.1f [B]\n",
	    (double)(e.len - e.n * 3 - e.n * strlen("ev.330100")) / (double)e.n);
	expect(s);
	(void)fflush(stdout);
	int r = pub_send_all(ep, &e, s->n / distinct);
	free(e.buf);
	return r;
}

int
main(int argc, char **argv)
{
	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: hostile SHAPE ENDPOINT N ZONES_CSV [ARG [WINDOW]]\n");
		return 2;
	}
	struct shape s = {.name = argv[1], .n = strtoull(argv[3], NULL, 10)};
	s.arg = argc > 5 ? strtoull(argv[5], NULL, 10) : 100000;
	s.window = argc > 6 ? strtoull(argv[6], NULL, 10) : 100000;
	if (s.n == 0 || s.arg == 0 || s.window == 0) {
		fprintf(stderr, "hostile: N, ARG and WINDOW must be > 0\n");
		return 2;
	}
	s.step = DAY_MS / (int64_t)(s.n + 1) > 0 ? DAY_MS / (int64_t)(s.n + 1) : 1;
	if (strcmp(s.name, "spread") == 0) {
		s.step = DAY_MS / (int64_t)(s.n / SPREAD_DAYS + 1);
		if ((s.nzones = load_zones(argv[4], &s.zones)) == 0)
			return 1;
	}
	printf("shape: %s\nmessages: %" PRIu64 " [msg]\n", s.name, s.n);
	int r = strcmp(s.name, "maxbatch") == 0 ? run_maxbatch(argv[2], &s) : run_pub(argv[2], &s);
	free(s.zones);
	return r;
}
