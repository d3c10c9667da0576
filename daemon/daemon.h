/*
 * daemon.h: zonetallyd's private header, the index of its files. Each group of prototypes
 * below is one file with one role; main.c reads as the table of contents.
 */
#ifndef ZT_DAEMON_H
#define ZT_DAEMON_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "zt_config.h"
#include "zt_keyfile.h"

#define ZT_ENDPOINTS_FILE "zonetallyd.endpoints"
#define ZT_ENDPOINT_MAX   256

/* log.c */
void log_init(const char *progname, int level);
void log_syslog(void);
void log_setlevel(int level);
int log_getlevel(void);
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_reject(int reason, const char *, ...) __attribute__((format(printf, 2, 3)));
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* decode.c */

/* What validation needs besides the message: the registry (a private copy, sorted by code,
 * so that the writer thread may use the store meanwhile) and the configured limits. */
struct decode_opts {
	const struct zt_zone *zones;
	size_t n_zones;
	uint32_t max_message_bytes;
	int64_t max_value_fen;
};

int decode_message(const struct decode_opts *o, const void *topic, size_t topic_len,
    const void *payload, size_t len, struct zt_entry *e, unsigned *ret_unknown);
const struct zt_zone *decode_zone(const struct decode_opts *o, uint32_t code);

/* decode_wire.c */
struct ProtobufCMessageDescriptor;
bool decode_text_ok(const uint8_t *s, size_t n);
bool decode_strings_ok(const struct ProtobufCMessageDescriptor *d, const void *payload, size_t len);
bool decode_publisher_ok(const uint8_t *s, size_t n);
bool decode_identity(
    const void *payload, size_t len, char pub[ZT_PUBLISHER_MAX + 1], uint64_t *seq);

/* batch.c */

/* The daemon's own data of one batch entry, beside the store's struct zt_entry. */
struct batch_tag {
	uint32_t raw_off; /* offset of the entry's payload copy in arena */
	uint32_t peer;    /* 0 from the SUB socket, else router peer slot + 1 */
};

/*
 * One batch of received messages, filled by the main thread, applied by the writer. Every
 * per-entry datum is in e[i] or tag[i]; both arrays are one allocation (batch.c).
 */
struct batch {
	struct zt_entry *e;    /* what zt_store_apply() reads */
	struct batch_tag *tag; /* tag[i] belongs to e[i] */
	size_t n;
	size_t cap;
	uint8_t *arena; /* payload copies, truncated to ZT_REJECT_KEEP */
	size_t arena_used;
	size_t arena_cap;
	int64_t first_ms; /* monotonic time of the first message */
	bool backlog;     /* messages arrived while the writer was busy */
	int rc;           /* writer's result: zt_store_apply()'s return */
	struct zt_apply_result res;
	int64_t apply_us; /* writer's time in zt_store_apply(), for metrics */
};

size_t batch_cap(const struct zt_config *c);
int batch_init(struct batch *b, size_t cap);
void batch_done(struct batch *b);
int batch_grow(struct batch *b, size_t cap);
void batch_clear(struct batch *b);
struct zt_entry *batch_next(struct batch *b, const void *payload, size_t len, uint32_t peer);
void batch_seal(struct batch *b);
bool batch_due(const struct batch *b, int64_t now_ms, uint32_t max_events, uint32_t max_ms);
int batch_wait_ms(const struct batch *b, int64_t now_ms, uint32_t max_ms);
int64_t now_monotonic_ms(void);
int64_t now_wall_ms(void);
int64_t now_monotonic_us(void);

/* ingest.c */

/*
 * The floor of every ingest socket's own frame limit (ZMQ_MAXMSGSIZE). libzmq drops the
 * connection of a peer that exceeds it, silently: nothing reaches the daemon, nothing is
 * counted. So it sits far above max_message_bytes: an ordinary oversize payload (a publisher
 * bug, a 1 MiB blob) must arrive and be rejected as `oversize` with its reason counted and
 * logged, on the SUB and the ROUTER socket alike. Only frames beyond this floor, which no
 * publisher sends by mistake, cost the sender its connection.
 */
#define ZT_SOCKET_MSG_FLOOR (4 << 20)

struct ingest {
	void *zctx;
	void *sub;
	char bound[ZT_CONFIG_MAX_ENDPOINTS][ZT_ENDPOINT_MAX]; /* resolved bind endpoints */
	size_t n_bound;
	uint64_t unknown_fields;         /* messages carrying unknown protobuf fields */
	const char *metrics_bound;       /* "ADDR:PORT" for the endpoints file, or NULL (issue 5) */
	char ingest_ep[ZT_ENDPOINT_MAX]; /* the ROUTER's resolved endpoint, "" if none */
};

int ingest_open(struct ingest *in, void *zctx, const struct zt_config *c, char *err, size_t errlen);
void ingest_close(struct ingest *in);
int ingest_recv(struct ingest *in, const struct decode_opts *o, struct batch *b);
int ingest_write_endpoints(const struct ingest *in, const char *state_dir, const char *extra);
void ingest_remove_endpoints(const char *state_dir);

/* statefile.c */
int state_file_write(const char *state_dir, const char *name, const char *text);
void state_file_remove(const char *state_dir, const char *name);
int state_lock(const char *state_dir, long *ret_holder);
size_t ingest_discard_rest(void *sock);

/* writer.c */

struct writer {
	void *pair; /* main thread's end */
	void *zctx;
	struct zt_store *store;
	struct zt_apply_opts opts;
	bool started;
	bool busy;
	atomic_bool give_up; /* set at shutdown: a failing commit stops retrying */
};

int writer_start(struct writer *w, void *zctx, struct zt_store *store, const struct zt_config *c);
int writer_submit(struct writer *w, struct batch *b);
struct batch *writer_collect(struct writer *w);
void writer_stop(struct writer *w);
void writer_give_up(struct writer *w);
int writer_failing(void);

/* acktrack.c */

/* Publishers whose acknowledgement state is kept between batches, at least (architecture.md,
 * "Per-publisher state"); the least recently active beyond it are dropped. The daemon keeps
 * as many as one full batch can name (acktrack_keep()), if that is more. */
#define ZT_ACK_PUBLISHERS 16384
/* Ranges of out-of-order sequences remembered per publisher. */
#define ACK_RANGES_MAX    16

/* Sequences seen above a mark: lo..hi, both included. */
struct ackrange {
	uint64_t lo, hi;
};

/* One publisher's acknowledgement state. */
struct ackpub {
	char id[ZT_PUBLISHER_MAX + 1]; /* first member: the tree compares records as ids */
	uint16_t nr, rcap;
	uint64_t through;           /* every sequence up to this one is committed or rejected */
	struct ackrange *r;         /* sorted, disjoint, not adjacent, all above through + 1;
	                             * NULL while the publisher is in order */
	struct ackpub *prev, *next; /* least recently marked order: prev is more recent */
};

struct acktrack {
	void *root;                     /* tsearch tree of the records, by id */
	struct ackpub *newest, *oldest; /* most and least recently marked */
	size_t n;                       /* records */
	size_t max;                     /* records kept between batches (acktrack_keep()) */
	uint32_t bits;                  /* sequences remembered above each mark */
	struct zt_store *store;         /* where marks are read; NULL: none (they start at 0) */
	uint64_t dropped;               /* records dropped for the bound */
};

int acktrack_init(struct acktrack *t, uint32_t window);
void acktrack_done(struct acktrack *t);
void acktrack_keep(struct acktrack *t, size_t batch_max);
int acktrack_load(struct acktrack *t, struct zt_store *s);
int acktrack_mark(struct acktrack *t, const char *id, uint64_t seq, uint64_t *ret_through);
void acktrack_trim(struct acktrack *t);
int acktrack_batch(struct acktrack *t, struct batch *b);
void acktrack_committed(struct acktrack *t, const struct batch *b);

/* router.c */

#define ROUTER_TYPE_EVENT 0x01 /* payload: one TradeEvent */
#define ROUTER_TYPE_BATCH 0x02 /* payload: EventBatch */
#define ROUTER_TYPE_ACK   0x03 /* payload: IngestAck (daemon -> publisher) */
#define ROUTER_ID_MAX     255  /* ZeroMQ routing ids are 1..255 bytes */

/* A DEALER connected to the ROUTER, known by its routing id. */
struct rpeer {
	uint8_t id[ROUTER_ID_MAX];
	uint8_t id_len;
	uint32_t inflight; /* messages received, not yet acknowledged */
	int64_t last_ms;   /* monotonic time of its last message */
};

struct router {
	void *sock; /* NULL: the acknowledged path is off */
	char bound[ZT_ENDPOINT_MAX];
	uint32_t window; /* per-peer bound on inflight */
	struct rpeer *peers;
	size_t n_peers;
	/* an EventBatch that did not fit in the batch: the rest is taken next time */
	bool has_pending;
	void *pending; /* zmq_msg_t *, heap-allocated */
	uint32_t pending_peer;
	size_t pending_pos;
	uint64_t window_drops; /* events refused because their peer's window was full */
	uint64_t acks_sent;
	uint64_t acks_lost; /* peer gone or its queue full: it resends and gets a new ack */
};

int router_open(struct router *rt, void *zctx, const struct zt_config *c, char *err, size_t errlen);
void router_close(struct router *rt);
int router_recv(struct router *rt, const struct decode_opts *o, struct batch *b);

/* seqlog.c */
void seqlog_batch(const struct batch *b);

/* router_ack.c */
struct zt_reject_ctx;
int router_ack(struct router *rt, const struct batch *b, const struct zt_reject_ctx *rc);

/* notify.c */

/* The systemd notification state of the main loop. */
struct notify {
	int64_t watchdog_ms; /* WATCHDOG_USEC / 1000; 0: no watchdog */
	int64_t last_ping_ms;
	int64_t last_status_ms;
	uint64_t last_received;
	uint64_t last_commits;
	int64_t busy_since_ms; /* writer busy on the same batch since */
	int64_t wedge_at_ms;   /* test-only fault hook (ZT_TEST_WEDGE_AFTER_MS); 0: off */
};

struct daemon;
void notify_init(struct notify *n);
void notify_ready(struct notify *n, const char *status);
void notify_reloading(void);
void notify_reloaded(const char *status);
void notify_stopping(void);
long notify_poll_cap(const struct notify *n, long timeout);
void notify_tick(struct notify *n, const struct daemon *d);

/* feed.c */

/* One feed topic ("tot.<code>") and how many updates it carried in this epoch. */
struct feed_topic {
	uint32_t code;
	uint64_t seq;
};

struct feed {
	void *pub; /* NULL: the feed is off */
	char bound[ZT_ENDPOINT_MAX];
	uint64_t epoch;         /* random per start: watchers see restarts */
	uint64_t last_feed_seq; /* of the last commit published */
	uint64_t updates;       /* TotalsUpdate messages sent */
	int64_t next_hb_ms;     /* monotonic */
	uint32_t heartbeat_ms;
	struct feed_topic *topics; /* sorted by code */
	size_t n_topics;
	struct sse *sse; /* issue 8: the HTTP stream's history, or NULL */
	/* issue 14: held by feed_publish() while it counts topic_seq, and by feed_view_sync()
	 * (the query thread) while it copies them */
	pthread_mutex_t lock;
	bool lock_ok;
	uint32_t sndhwm; /* the SNDHWM set: min(sndhwm, watcher_max_bytes / feed_msg_max()) */
};

int feed_open(struct feed *f, void *zctx, const struct zt_config *c, const struct decode_opts *o,
    uint64_t feed_seq, char *err, size_t errlen);
void feed_close(struct feed *f);
struct feed_topic *feed_topic(const struct feed *f, uint32_t code);
int feed_publish(struct feed *f, const struct zt_store *s, uint64_t feed_seq);
int feed_wait_ms(const struct feed *f, int64_t now_ms);
int feed_tick(struct feed *f, int64_t now_ms);
int feed_view_init(struct feed *view, const struct feed *f);
size_t feed_msg_max(size_t n_topics);
void feed_view_sync(struct feed *live, struct feed *view);

/* query.c */

struct qstate;
struct query {
	void *router; /* NULL: the query socket is off */
	char bound[ZT_ENDPOINT_MAX];
	struct zt_store *store;  /* read-only handle on the writer's environment */
	const struct feed *feed; /* what query_handle() reads: codes, epoch, endpoint, topic_seq */
	/* issue 14: the main thread's feed, or NULL (HTTP threads, fuzz target): a snapshot
	 * copies its topic_seq into view under its mutex before the read transaction */
	struct feed *live;
	struct feed view;
	uint32_t max_request;
	uint64_t served;
	uint64_t errors;
	/* query_thread.c: the thread that owns router and store once query_start() ran */
	pthread_t thread;
	bool started;
	struct qstate *state;       /* the thread's queue */
	int stop_pipe[2];           /* main -> thread: a byte means stop */
	uint32_t max_pending;       /* requests queued, all clients (at start) */
	atomic_uint max_per_client; /* requests queued per routing id (reloadable) */
};

/* One zone of a `top` answer while it is ranked, with the keys it is ranked by. */
struct query_rank {
	uint32_t code;
	int64_t value_fen; /* of the requested direction, all modes */
	int64_t events;
	struct zt_totals_block b;
};

#define QUERY_BUSY_TEXT "busy: too many requests queued; retry later"

int query_open(struct query *q, void *zctx, const struct zt_config *c, struct zt_store *owner,
    struct feed *f, char *err, size_t errlen);
void query_close(struct query *q);
uint8_t *query_handle(struct query *q, const void *body, size_t len, size_t *ret_len);
uint8_t *query_error_reply(
    struct query *q, const void *body, size_t len, const char *text, size_t *ret_len);

/* query_thread.c */
int query_start(struct query *q);
void query_stop(struct query *q);
void query_limits(struct query *q, const struct zt_config *c);
void query_counts(uint64_t *ret_served, uint64_t *ret_busy); /* any thread */

/* loop.c */

/* Everything the main loop needs, built by main.c. */
struct daemon {
	struct zt_config *conf; /* reload.c swaps its contents between batches */
	struct decode_opts dopts;
	struct ingest in;
	struct writer w;
	struct batch bufs[2];
	struct batch *fill; /* the buffer the main thread fills */
	int sigpipe[2];     /* self-pipe: signal handler -> poll */
	uint64_t received;  /* since start, for the periodic log line */
	uint64_t accepted;
	uint64_t duplicates;
	uint64_t rejected;
	uint64_t commits;
	struct notify notify;
	struct metrics *metrics; /* metrics.c; may serve nothing (listen = off) */
	/* main.c: defaults, file, command line, validate: what SIGHUP re-reads */
	int (*reload_load)(struct zt_config *ret, char *err, size_t errlen);
	struct router rt;    /* the acknowledged path (router.c) */
	struct acktrack ack; /* what may be acknowledged (acktrack.c) */
	struct feed feed;    /* issue 4: live totals feed */
	struct query query;  /* issue 4: query socket */
	struct web *web;     /* issue 8: dashboard, JSON API and stream on the HTTP listener */
};

int loop_signals(struct daemon *d);
int loop_run(struct daemon *d);

/* rejects.c: what exactly was wrong with each rejection of a committed batch */
void rejects_ctx(struct daemon *d, const struct batch *b, struct zt_reject_ctx *ret);
size_t rejects_detail(
    const struct batch *b, size_t i, const struct zt_reject_ctx *rc, char *buf, size_t len);

/* metrics.c */
struct metrics;
int metrics_new(
    const struct zt_config *c, struct web *web, struct metrics **ret, char *err, size_t errlen);
const char *metrics_bound(const struct metrics *m);
struct metrics *metrics_free(struct metrics *m);
void metrics_commit(struct metrics *m, const struct batch *b, const struct ingest *in);
void metrics_reload(struct metrics *m, bool ok);
void metrics_refresh(struct metrics *m, struct zt_store *s);
void metrics_set_reader_warn(struct metrics *m, uint32_t seconds);

/* sbuf.c */

/* A growing text buffer; `oom` is sticky. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_append(struct sbuf *b, const char *s, size_t n);
void sb_done(struct sbuf *b);

/* sse.c */

/* One TotalsUpdate as GET /api/stream sends it: the all-modes column the commit wrote. */
struct sse_rec {
	uint64_t feed_seq;
	uint32_t index;     /* 1-based position in its commit */
	bool last;          /* set by sse_read(): the commit's final update */
	uint8_t dirs;       /* bits 1 << enum zt_direction: which of t[] the commit wrote */
	struct zt_tkey key; /* level, code, gran, bucket (direction and mode unused) */
	struct zt_totals t[ZT_DIR__COUNT];
};

struct sse;
int sse_new(size_t cap, uint64_t feed_seq, struct sse **ret);
struct sse *sse_free(struct sse *s);
void sse_stop(struct sse *s);
void sse_push(struct sse *s, uint64_t feed_seq, const struct zt_tkey *k, const struct zt_totals *t);
void sse_commit(struct sse *s, uint64_t feed_seq);
int sse_resume(struct sse *s, const char *last_id, uint64_t *ret_pos);
int sse_after_snapshot(struct sse *s, uint64_t feed_seq, uint64_t *ret_pos);
int sse_read(struct sse *s, uint64_t *pos, struct sse_rec *out, size_t max, int wait_ms);

/* web.c */
struct web;
struct MHD_Connection;
int web_new(const struct zt_config *c, struct zt_store *owner, const struct feed *f,
    const char *config_path, struct web **ret, char *err, size_t errlen);
struct web *web_free(struct web *w);
struct sse *web_sse(const struct web *w);
void web_stop(struct web *w);
int web_request(struct web *w, struct MHD_Connection *conn, const char *url);

/* reload.c */
#define ZT_PID_FILE    "zonetallyd.pid"
#define ZT_LOCK_FILE   "zonetallyd.lock"
#define ZT_RELOAD_FILE "zonetallyd.reload"

int reload_files_write(const struct daemon *d);
void reload_files_remove(const char *state_dir);
void reload_run(struct daemon *d);

/* zap.c */
#define ZT_ZAP_PUBLISHERS "publishers" /* ZAP domain of the ingest sockets */
#define ZT_ZAP_READERS    "readers"    /* ZAP domain of the query socket */
#define ZT_ZAP_FEED       "feed"       /* ZAP domain of the feed (readers' keys; counted) */

int zap_start(
    void *zctx, struct zt_allowlist *pubs, struct zt_allowlist *readers, char *err, size_t errlen);
void zap_swap(struct zt_allowlist *pubs, struct zt_allowlist *readers);
const struct zt_allowlist *zap_publishers(void); /* main thread only: it alone swaps */
const struct zt_allowlist *zap_readers(void);    /* main thread only */
bool zap_reader_known(const char *name);         /* any thread */
void zap_stop(void);
void zap_counts(uint64_t *ret_admitted, uint64_t *ret_refused); /* any thread */
int zap_feed_start(void *zctx, uint32_t max_watchers, char *err, size_t errlen);
void zap_feed_limit(uint32_t max_watchers);
void zap_feed_attach(void *monitor);
void zap_feed_counts(uint64_t *ret_watchers, uint64_t *ret_refused); /* any thread */

/* curve.c */
struct zmq_msg_t;
int security_start(
    void *zctx, const struct zt_config *c, const char *config_path, char *err, size_t errlen);
int security_reload(const struct zt_config *c, char *err, size_t errlen);
void security_stop(void);
bool security_on(void);
int curve_server(void *sock, const char *domain);
void curve_authorize(struct zmq_msg_t *msg, struct zt_entry *e);
bool curve_reader_ok(struct zmq_msg_t *msg);

#endif /* ZT_DAEMON_H */
