/*
 * pubconn.h: private to libzonetally: the reliable publisher's window (publisher.c) and its
 * on-disk spool (spool.c).
 */
#ifndef ZT_PUBCONN_H
#define ZT_PUBCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zonetally.h"

/* Latencies in µs (lathist.c): exact below 64, then within 1/32; up to 2^40 µs. */
#define LATHIST_MAX_EXP 40
#define LATHIST_BUCKETS (64 + (LATHIST_MAX_EXP - 5) * 32)
struct lathist {
	uint64_t n;
	uint64_t bucket[LATHIST_BUCKETS];
};

/* One queued event. */
struct pc_slot {
	uint64_t seq;
	int64_t queued_us; /* when zt_publisher_send() took it, for the ack latency */
	uint32_t len;
	uint16_t reason; /* a rejection the daemon reported, counted when the slot is released */
	uint8_t *data;   /* owned */
};

/* The spool: an append-only log of events and a small state file. */
struct spool {
	int log_fd;   /* <dir>/events: records [u32 len][u64 seq][len bytes], big-endian */
	int state_fd; /* <dir>/state: u64 acked through, u64 highest sequence spooled */
	char *dir;
	uint64_t log_bytes;
	uint64_t high;
};

struct zt_pubconn {
	void *ctx;
	void *sock;
	struct zt_curve_watch *hs; /* sock's handshakes: a refusal is not a timeout */
	char publisher[ZT_PUBLISHER_MAX + 1];
	struct zt_publisher_opts o;
	struct pc_slot *ring; /* cap slots, head is the oldest unacknowledged */
	size_t cap, head, count;
	size_t unsent;       /* ring offset (from head) of the first slot not sent since (re)send */
	uint64_t last_seq;   /* highest sequence queued */
	int64_t progress_ms; /* resend timer: last ack progress or last resend */
	int64_t acked_ms;    /* last ack progress */
	struct zt_publisher_stats st;
	bool has_spool;
	struct spool sp;
	uint8_t *buf; /* an EventBatch being built */
	size_t buf_cap;
	struct lathist ack_us; /* queued -> acknowledgement read, per event */
};

/* publisher.c */
int64_t pc_now_ms(void);
int64_t pc_now_us(void);

/* lathist.c */
void lathist_add(struct lathist *h, uint64_t v);
uint64_t lathist_quantile(const struct lathist *h, double q);

/* spool.c */
typedef int (*spool_cb)(uint64_t seq, const uint8_t *data, uint32_t len, void *arg);
int spool_open(struct spool *sp, const char *dir, spool_cb cb, void *arg);
int spool_append(struct spool *sp, uint64_t seq, const void *data, uint32_t len);
int spool_acked(struct spool *sp, uint64_t through, const struct pc_slot *ring, size_t cap,
    size_t head, size_t count);
void spool_close(struct spool *sp);

#endif /* ZT_PUBCONN_H */
