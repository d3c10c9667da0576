/*
 * pub.h: what the files of `zonetally-pub` share: the options, the ZeroMQ side (send.c) and
 * the inputs (main.c).
 */
#ifndef ZT_PUB_H
#define ZT_PUB_H

#include <stdbool.h>
#include <stdint.h>

#include "zonetally.h"

#define PUB_MAX_ENDPOINTS 16

struct pub_opts {
	const char *endpoints[PUB_MAX_ENDPOINTS];
	size_t n_endpoints;
	const char *file; /* --file, "-" for stdin, or NULL */
	bool generate;    /* --generate given */
	struct zt_gen_opts gen;
	double rate; /* events per second, 0 = as fast as possible */
	const char *publisher;
	uint64_t start_seq;
	unsigned long wait_subscribers;
	unsigned long timeout_s;
	bool reliable;                /* --reliable: the acknowledged path */
	uint32_t window;              /* --window: unacknowledged events at most */
	const char *spool;            /* --spool DIR */
	const char *curve_server_key; /* --curve-server-key FILE|Z85, or NULL: plaintext */
	const char *curve_key;        /* --curve-key FILE: this publisher's NAME.key */
	bool preencode;               /* --preencode: encode all before the clock starts */
	bool stats_json;              /* --stats-json: one JSON line of figures on stderr */
};

/* One message ready to go: the topic frame and the encoded TradeEvent. */
struct pub_msg {
	const char *topic;
	size_t topic_len;
	const uint8_t *data;
	size_t len;
	uint64_t sequence;
};

/* Events encoded ahead (preencode.c): records [u64 seq][u16 len][u8 tlen][topic][event]. */
struct pub_pre {
	uint8_t *buf;
	size_t len, cap;
	uint64_t n;
};

/* One open publisher socket and its pacing state. */
struct pub {
	void *ctx;
	void *sock;
	struct zt_curve_watch *hs;      /* sock's handshakes: a refusal is not a timeout */
	unsigned long subscribers_seen; /* pub_wait_subscribers(): subscriptions received */
	bool generated;                 /* --generate: the expectation below is known */
	uint64_t gen_resends;           /* of the generated messages, resends */
	double rate;
	uint64_t sent;
	uint64_t bytes; /* encoded TradeEvent bytes sent, topics not included */
	int64_t start_ns;
	uint8_t buf[ZT_WIRE_MSG_MAX];
	/* --reliable (reliable.c) */
	struct zt_pubconn *rel;
	uint64_t resume_seq; /* highest sequence a killed run spooled */
	uint64_t last_seq;
	uint64_t skipped;
	uint64_t unsendable; /* input events the acknowledged path cannot carry */
	unsigned long timeout_s;
	char err[256]; /* pub_open(): why it failed, when it knows better than errno */
};

/* send.c */
int64_t mono_ns(void);
int pub_open(struct pub *p, const struct pub_opts *o);
int pub_wait_subscribers(struct pub *p, unsigned long n, int64_t deadline_ns);
int pub_send(struct pub *p, const struct zt_wire *w);
int pub_send_msg(struct pub *p, const struct pub_msg *m, bool stable);
void pub_close(struct pub *p, unsigned long linger_s);
int pub_finish(struct pub *p);

/* reliable.c */
int rel_open(struct pub *p, const struct pub_opts *o);
int rel_send(struct pub *p, uint64_t seq, const uint8_t *data, size_t len);
bool rel_line_ok(struct pub *p, const struct zt_wire *w, const char *publisher);
int rel_finish(struct pub *p);
int rel_kick(struct pub *p);
void rel_close(struct pub *p);
void rel_stats_json(const struct pub *p);

/* preencode.c */
int pre_encode(struct pub_pre *pe, struct zt_gen *g);
int pre_send(struct pub *p, const struct pub_pre *pe);
void pre_free(struct pub_pre *pe);

#endif /* ZT_PUB_H */
