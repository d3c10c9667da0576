/*
 * metrics.c: Prometheus text exposition over HTTP (libmicrohttpd, its own threads), on
 * 127.0.0.1:9464 by default; the same server hands every other URL to web.c (issue 8). The main
 * thread records into a snapshot under a mutex (once per commit, and the store-derived gauges once
 * a second while the writer is idle, since only then may this thread touch the store); the HTTP
 * thread only formats that snapshot, so a scrape never waits on LMDB and never races the writer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "daemon.h"
#include "web_int.h"

#define REFRESH_EVERY_MS 1000
#define MAX_PUBLISHERS   1000 /* label cardinality bound: see struct pub_list */
#define N_LAT            14
#define N_SIZE           6
#define REQUEST_MEMORY   16384U /* per connection: a longer URL or header block gets 414/431 */
#define IDLE_TIMEOUT_S   10U    /* a connection silent this long is closed */
#define THREAD_STACK     (512U << 10) /* per connection thread: reserved, touched on use */

static const double lat_bounds[N_LAT] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double size_bounds[N_SIZE] = {1, 10, 100, 1000, 10000, 100000};

struct hist {
	uint64_t bucket[N_LAT + 1]; /* per bound, not cumulative; last is +Inf */
	double sum;
	uint64_t count;
};

/* The ingest paths, as the "path" label names them. */
enum {
	PATH_PUB,
	PATH_RELIABLE,
	PATH__COUNT
};
static const char *const path_names[PATH__COUNT] = {"pub", "reliable"};

/* Messages of one ingest path, by outcome (index: enum zt_outcome) and reason. */
struct path_counts {
	uint64_t received;
	uint64_t outcome[3];
	uint64_t by_reason[ZT_REJECT__COUNT];
};

/* What a scrape shows; guarded by metrics.mu. */
struct snap {
	uint64_t received, accepted, duplicates, rejected, commits, unknown_fields;
	struct path_counts path[PATH__COUNT];
	struct hist commit_s, batch;
	uint64_t map_bytes, used_bytes, feed_seq, dedup_records;
	int64_t watermark_ms;
	unsigned readers, readers_max;
	struct zt_oldest_reader oldest; /* issue 14 */
	uint64_t reloads_ok, reloads_failed;
	struct zt_publisher *pubs;
	size_t npubs;
	double start_s;
};

struct metrics {
	pthread_mutex_t mu;
	struct web *web;       /* issue 8: every other URL; NULL: only /metrics */
	struct web_conn *conn; /* issue 14: the header deadline */
	struct snap s;
	struct MHD_Daemon *mhd;
	char bound[64];
	int64_t last_refresh_ms;
	/* main thread only: the oldest reader's tracking and warning (issue 14) */
	struct zt_readers_memo memo;
	int64_t reader_warn_ms; /* [store] reader_warn_s; 0: never warn */
	uint64_t warned_txnid;  /* the snapshot last warned about, and when */
	int64_t warned_ms;
};

static void
hist_add(struct hist *h, const double *bounds, size_t n, double v)
{
	size_t i = 0;

	while (i < n && v > bounds[i])
		i++;
	h->bucket[i]++;
	h->sum += v;
	h->count++;
}

static void
header(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
hist_render(struct sbuf *b, const char *name, const char *help, const struct hist *h,
    const double *bounds, size_t n)
{
	uint64_t cum = 0;

	header(b, name, "histogram", help);
	for (size_t i = 0; i < n; i++) {
		cum += h->bucket[i];
		sb_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[i], cum);
	}
	sb_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.9g\n%s_count %" PRIu64 "\n",
	    name, h->count, name, h->sum, name, h->count);
}

static void
render_counters(struct sbuf *b, const struct snap *s)
{
	static const char *const outcome[] = {"received", "accepted", "duplicate"};

	for (int i = 0; i < 3; i++) {
		char name[64];
		(void)snprintf(name, sizeof(name), "zonetally_messages_%s_total", outcome[i]);
		header(b, name, "counter", "Messages by outcome, per ingest path, since start.");
		for (int p = 0; p < PATH__COUNT; p++) {
			const struct path_counts *c = &s->path[p];
			sb_printf(b, "%s{path=\"%s\"} %" PRIu64 "\n", name, path_names[p],
			    i == 0 ? c->received
			           : c->outcome[i == 1 ? ZT_OUT_ACCEPTED : ZT_OUT_DUPLICATE]);
		}
	}
	header(b, "zonetally_messages_rejected_total", "counter",
	    "Rejected messages per ingest path and reason, since start.");
	for (int p = 0; p < PATH__COUNT; p++)
		for (int r = 1; r < ZT_REJECT__COUNT; r++)
			sb_printf(b,
			    "zonetally_messages_rejected_total{path=\"%s\",reason=\"%s\"} %" PRIu64
			    "\n",
			    path_names[p], zt_reject_name(r), s->path[p].by_reason[r]);
	header(b, "zonetally_commits_total", "counter", "Durable write transactions, since start.");
	sb_printf(b, "zonetally_commits_total %" PRIu64 "\n", s->commits);
	header(b, "zonetally_unknown_fields_messages_total", "counter",
	    "Messages carrying protobuf fields this daemon does not know.");
	sb_printf(b, "zonetally_unknown_fields_messages_total %" PRIu64 "\n", s->unknown_fields);
	header(b, "zonetally_reloads_total", "counter", "Configuration reloads by result.");
	sb_printf(b, "zonetally_reloads_total{result=\"ok\"} %" PRIu64 "\n", s->reloads_ok);
	sb_printf(b, "zonetally_reloads_total{result=\"failed\"} %" PRIu64 "\n", s->reloads_failed);
}

/* A publisher id as a label value: ids are validated on ingest, escaped anyway. */
static void
label_value(char *out, size_t len, const char *in)
{
	size_t j = 0;

	for (size_t i = 0; in[i] != '\0' && j + 3 < len; i++) {
		if (in[i] == '\\' || in[i] == '"')
			out[j++] = '\\';
		out[j++] = in[i] == '\n' ? ' ' : in[i];
	}
	out[j] = '\0';
}

static void
render_publishers(struct sbuf *b, const struct snap *s)
{
	static const char *const name[] = {"zonetally_publisher_gaps_total",
	    "zonetally_publisher_gap_events_total", "zonetally_publisher_regressions_total",
	    "zonetally_publisher_last_sequence"};
	static const char *const help[] = {
	    "Times a publisher's sequence jumped forward (PUB path).",
	    "Sequences skipped by those jumps: messages lost before the daemon.",
	    "Times a publisher restarted from sequence 1.", "Highest sequence seen per publisher."};
	char id[3 * ZT_PUBLISHER_MAX + 1];

	for (int m = 0; m < 4; m++) {
		header(b, name[m], m == 3 ? "gauge" : "counter", help[m]);
		for (size_t i = 0; i < s->npubs; i++) {
			const struct zt_publisher *p = &s->pubs[i];
			const uint64_t v[] = {
			    p->gaps, p->gap_events, p->regressions, p->last_sequence};
			label_value(id, sizeof(id), p->id);
			sb_printf(b, "%s{publisher=\"%s\"} %" PRIu64 "\n", name[m], id, v[m]);
		}
	}
}

static void
gauge(struct sbuf *b, const char *name, const char *help, double v)
{
	header(b, name, "gauge", help);
	sb_printf(b, "%s %.17g\n", name, v);
}

static void
render_gauges(struct sbuf *b, const struct snap *s)
{
	gauge(b, "zonetally_store_map_bytes", "LMDB map size.", (double)s->map_bytes);
	gauge(b, "zonetally_store_used_bytes", "Bytes of the map in use.", (double)s->used_bytes);
	gauge(b, "zonetally_store_map_fill_ratio",
	    "Used bytes over map size (the map grows when full).",
	    s->map_bytes ? (double)s->used_bytes / (double)s->map_bytes : 0);
	gauge(b, "zonetally_store_readers", "LMDB reader slots in use, all processes.",
	    (double)s->readers);
	gauge(b, "zonetally_store_readers_max", "LMDB reader slots available.",
	    (double)s->readers_max);
	gauge(b, "zonetally_store_oldest_reader_age_seconds",
	    "How long the oldest snapshot a reader holds has been held (0: none).",
	    (double)s->oldest.age_ms / 1000.0);
	gauge(b, "zonetally_store_oldest_reader_pid",
	    "Process holding the oldest snapshot (0: none).", (double)s->oldest.pid);
	gauge(b, "zonetally_store_oldest_reader_commits_behind",
	    "Commits made since the oldest held snapshot.", (double)s->oldest.behind);
	gauge(b, "zonetally_store_oldest_reader_pinned_pages",
	    "Pages freed since the oldest held snapshot, which LMDB cannot reuse while it stays.",
	    (double)s->oldest.pinned_pages);
	gauge(b, "zonetally_feed_seq", "Sequence number of the last commit (stored with it).",
	    (double)s->feed_seq);
	gauge(b, "zonetally_dedup_records", "Event ids kept for deduplication.",
	    (double)s->dedup_records);
	gauge(b, "zonetally_event_watermark_seconds", "Newest accepted event time, unix seconds.",
	    (double)s->watermark_ms / 1000.0);
	gauge(b, "zonetally_start_time_seconds", "When this daemon started, unix seconds.",
	    s->start_s);
	int werr = writer_failing(); /* live, not snapshotted: a failing commit never returns */
	gauge(b, "zonetally_store_write_failing",
	    "1 while commits fail (retried, nothing acknowledged), else 0.", werr != 0);
	gauge(b, "zonetally_store_write_errno",
	    "errno of the failing commit (28: disk full; -1: no errno), 0 while commits succeed.",
	    werr);
}

/* Issue 6: CURVE handshakes the ZAP handler decided (both 0 while CURVE is off). */
static void
render_zap(struct sbuf *b)
{
	uint64_t admitted, refused;

	zap_counts(&admitted, &refused);
	header(b, "zonetally_zap_handshakes_total", "counter",
	    "CURVE client handshakes decided by the ZAP handler, by result, since start.");
	sb_printf(b, "zonetally_zap_handshakes_total{result=\"admitted\"} %" PRIu64 "\n", admitted);
	sb_printf(b, "zonetally_zap_handshakes_total{result=\"refused\"} %" PRIu64 "\n", refused);
}

/* Issue 14: the readers' bounded shares (query thread, feed watchers). */
static void
render_readers(struct sbuf *b)
{
	uint64_t served, busy, watchers, refused;

	query_counts(&served, &busy);
	zap_feed_counts(&watchers, &refused);
	header(b, "zonetally_query_requests_total", "counter",
	    "Query socket requests by result since start: answered, or refused busy (queue full).");
	sb_printf(b, "zonetally_query_requests_total{result=\"answered\"} %" PRIu64 "\n", served);
	sb_printf(b, "zonetally_query_requests_total{result=\"busy\"} %" PRIu64 "\n", busy);
	gauge(b, "zonetally_feed_watchers", "Feed connections open (handshaking or watching).",
	    (double)watchers);
	header(b, "zonetally_feed_watchers_refused_total", "counter",
	    "Feed handshakes refused since start because [feed] max_watchers were connected.");
	sb_printf(b, "zonetally_feed_watchers_refused_total %" PRIu64 "\n", refused);
}

/* Issue 14: the HTTP listener's own shares (read without m->mu: each has its own lock). */
static void
render_http(struct sbuf *b, struct metrics *m)
{
	unsigned open = 0;
	uint64_t cut = 0, pages = 0, streams = 0;

	web_conn_counts(m->conn, &open, &cut);
	web_counts(m->web, &pages, &streams);
	gauge(b, "zonetally_http_connections", "HTTP connections open, this scrape's included.",
	    (double)open);
	header(b, "zonetally_http_header_timeouts_total", "counter",
	    "HTTP connections closed because a request's headers were late, since start.");
	sb_printf(b, "zonetally_http_header_timeouts_total %" PRIu64 "\n", cut);
	header(b, "zonetally_http_refused_total", "counter",
	    "HTTP requests answered 503 because their share was full, by share, since start.");
	sb_printf(b, "zonetally_http_refused_total{share=\"page\"} %" PRIu64 "\n", pages);
	sb_printf(b, "zonetally_http_refused_total{share=\"stream\"} %" PRIu64 "\n", streams);
}

/* Formats the whole exposition; returns a malloc'd buffer or NULL. */
static char *
render(struct metrics *m, size_t *ret_len)
{
	struct sbuf b = {0};

	(void)pthread_mutex_lock(&m->mu);
	render_counters(&b, &m->s);
	hist_render(&b, "zonetally_commit_duration_seconds", "Time to apply and fsync one batch.",
	    &m->s.commit_s, lat_bounds, N_LAT);
	hist_render(&b, "zonetally_batch_messages", "Messages per committed batch.", &m->s.batch,
	    size_bounds, N_SIZE);
	render_publishers(&b, &m->s);
	render_gauges(&b, &m->s);
	render_zap(&b);
	render_readers(&b);
	(void)pthread_mutex_unlock(&m->mu);
	render_http(&b, m);
	if (b.oom || b.p == NULL) {
		sb_done(&b);
		return NULL;
	}
	*ret_len = b.len;
	return b.p;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* GET /metrics, the rest to web.c; anything but GET or HEAD is 405. Runs on a libmicrohttpd
 * connection thread. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *data, size_t *data_len, void **req)
{
	struct metrics *m = cls;
	size_t len = 0;

	(void)version, (void)data, (void)data_len, (void)req;
	web_conn_request(m->conn, conn); /* the headers are in: the deadline no longer applies */
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(
		    conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", strdup("GET only\n"), 9);
	if (strcmp(url, "/metrics") != 0 && m->web != NULL)
		return (enum MHD_Result)web_request(m->web, conn, url);
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", strdup("try /metrics\n"), 13);
	char *body = render(m, &len);
	if (body == NULL)
		return MHD_NO;
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

/* Parses "A.B.C.D:PORT" (validated by config.c) into sa. */
static int
parse_listen(const char *listen, struct sockaddr_in *sa)
{
	char host[32];
	unsigned port;

	memset(sa, 0, sizeof(*sa));
	if (sscanf(listen, "%31[0-9.]:%5u", host, &port) != 2 || port > 65535)
		return -EINVAL;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* Reads back the bound address (port 0 becomes a real port) into m->bound. */
static int
record_bound(struct metrics *m)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char host[INET_ADDRSTRLEN];

	if (info == NULL || getsockname(info->listen_fd, (struct sockaddr *)&sa, &len) < 0 ||
	    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host)) == NULL)
		return -EIO;
	(void)snprintf(m->bound, sizeof(m->bound), "%s:%u", host, (unsigned)ntohs(sa.sin_port));
	return 0;
}

/*
 * libmicrohttpd's messages: one per refused or cut connection, so a hostile client could
 * fill the log with them; they go to debug, and /metrics counts what matters.
 */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	if (log_getlevel() < ZT_LOG_DEBUG)
		return;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("http: %s", msg);
}

/*
 * Starts the listener (issue 14): a thread per connection (an event stream waits for the
 * next commit inside its content callback, which would stall every other client of a
 * single polling thread), at most http_max_connections of them and http_max_per_address
 * from one IPv4 address; a request's headers must be complete within http_header_timeout_s
 * (web_conn.c), and a connection silent for IDLE_TIMEOUT_S is closed.
 */
static struct MHD_Daemon *
start_mhd(struct metrics *m, const struct zt_config *c, struct sockaddr_in *sa)
{
	return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	        MHD_USE_POLL | MHD_USE_ERROR_LOG,
	    ntohs(sa->sin_port), NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->http_max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->http_max_per_address,
	    MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)REQUEST_MEMORY, MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
	    MHD_OPTION_NOTIFY_CONNECTION, web_conn_notify, m->conn, MHD_OPTION_NOTIFY_COMPLETED,
	    web_conn_completed, m->conn, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
}

/*
 * Starts the HTTP endpoint on c->metrics_listen ("A.B.C.D:PORT"; "" or "off": no endpoint,
 * NULL returned with no error).
 * @param[out] ret the metrics (also when off: recording still works), freed by metrics_free
 * @return 0 or a negative errno (err says which address and why).
 */
int
metrics_new(
    const struct zt_config *c, struct web *web, struct metrics **ret, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	const char *listen = c->metrics_listen;
	struct sockaddr_in sa;

	if (m == NULL || pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		(void)snprintf(err, errlen, "metrics: out of memory");
		return -ENOMEM;
	}
	m->s.start_s = (double)now_wall_ms() / 1000.0;
	m->web = web;
	metrics_set_reader_warn(m, c->reader_warn_s);
	*ret = m;
	if (listen[0] == '\0' || strcmp(listen, "off") == 0)
		return 0;
	if (parse_listen(listen, &sa) < 0) {
		(void)snprintf(err, errlen, "metrics: bad listen address '%s'", listen);
		return -EINVAL;
	}
	int r = web_conn_new(c->http_header_timeout_s, &m->conn);
	if (r < 0) {
		(void)snprintf(err, errlen, "metrics: cannot start: %s", strerror(-r));
		return r;
	}
	m->mhd = start_mhd(m, c, &sa);
	if (m->mhd == NULL || record_bound(m) < 0) {
		r = errno != 0 ? -errno : -EIO;
		(void)snprintf(
		    err, errlen, "metrics: cannot listen on '%s': %s", listen, strerror(-r));
		return r;
	}
	return 0;
}

/* "ADDR:PORT" actually bound, or NULL when off. Valid until metrics_free(). */
const char *
metrics_bound(const struct metrics *m)
{
	return m != NULL && m->mhd != NULL ? m->bound : NULL;
}

/* Stops the HTTP thread and frees m. Takes NULL; returns NULL. */
struct metrics *
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return NULL;
	if (m->mhd != NULL)
		MHD_stop_daemon(m->mhd);
	m->conn = web_conn_free(m->conn); /* after the daemon: its callbacks use it */
	(void)pthread_mutex_destroy(&m->mu);
	free(m->s.pubs);
	free(m);
	return NULL;
}

/* Records one committed batch (main thread, after collect). */
void
metrics_commit(struct metrics *m, const struct batch *b, const struct ingest *in)
{
	if (m == NULL)
		return;
	(void)pthread_mutex_lock(&m->mu);
	m->s.received += b->n;
	m->s.accepted += b->res.accepted;
	m->s.duplicates += b->res.duplicates;
	m->s.rejected += b->res.rejected;
	m->s.commits++;
	m->s.unknown_fields = in->unknown_fields;
	for (size_t i = 0; i < b->n; i++) {
		const struct zt_entry *e = &b->e[i];
		/* tag.peer: 0 for the SUB socket, else the acknowledged path's peer */
		struct path_counts *c = &m->s.path[b->tag[i].peer != 0];
		c->received++;
		if (e->outcome <= ZT_OUT_REJECTED)
			c->outcome[e->outcome]++;
		if (e->outcome == ZT_OUT_REJECTED && e->reason < ZT_REJECT__COUNT)
			c->by_reason[e->reason]++;
	}
	hist_add(&m->s.commit_s, lat_bounds, N_LAT, (double)b->apply_us / 1e6);
	hist_add(&m->s.batch, size_bounds, N_SIZE, (double)b->n);
	(void)pthread_mutex_unlock(&m->mu);
}

void
metrics_reload(struct metrics *m, bool ok)
{
	if (m == NULL)
		return;
	(void)pthread_mutex_lock(&m->mu);
	if (ok)
		m->s.reloads_ok++;
	else
		m->s.reloads_failed++;
	(void)pthread_mutex_unlock(&m->mu);
}

/*
 * The publishers a scrape shows: at most MAX_PUBLISHERS, the busiest, those with gaps first.
 * A min-heap on that rank while the store's publishers stream past (O(n log K)), so the one
 * at the root is the first to leave; sorted by id afterwards for a stable exposition.
 */
struct pub_list {
	struct zt_publisher *p;
	size_t n, cap;
};

/* Whether a ranks below b: no gaps before gaps, then fewer messages, then the later id. */
static bool
pub_below(const struct zt_publisher *a, const struct zt_publisher *b)
{
	if ((a->gaps != 0) != (b->gaps != 0))
		return a->gaps == 0;
	if (a->received != b->received)
		return a->received < b->received;
	return strcmp(a->id, b->id) > 0;
}

static void
pub_swap(struct zt_publisher *a, struct zt_publisher *b)
{
	struct zt_publisher t = *a;

	*a = *b;
	*b = t;
}

/* Restores the heap below i after its entry was replaced by a higher-ranked one. */
static void
pub_sift_down(struct pub_list *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;
		if (c < l->n && pub_below(&l->p[c], &l->p[m]))
			m = c;
		if (c + 1 < l->n && pub_below(&l->p[c + 1], &l->p[m]))
			m = c + 1;
		if (m == i)
			return;
		pub_swap(&l->p[i], &l->p[m]);
		i = m;
	}
}

static int
add_publisher(const struct zt_publisher *p, void *arg)
{
	struct pub_list *l = arg;

	if (l->n == MAX_PUBLISHERS) { /* full: p replaces the lowest-ranked if it ranks above */
		if (pub_below(p, &l->p[0]))
			return 0;
		l->p[0] = *p;
		pub_sift_down(l, 0);
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		cap = cap > MAX_PUBLISHERS ? MAX_PUBLISHERS : cap;
		struct zt_publisher *np = realloc(l->p, cap * sizeof(*np));
		if (np == NULL)
			return -ENOMEM;
		l->p = np;
		l->cap = cap;
	}
	size_t i = l->n++;
	l->p[i] = *p;
	while (i > 0 && pub_below(&l->p[i], &l->p[(i - 1) / 2])) {
		pub_swap(&l->p[i], &l->p[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return 0;
}

static int
pub_by_id(const void *a, const void *b)
{
	return strcmp(((const struct zt_publisher *)a)->id, ((const struct zt_publisher *)b)->id);
}

/*
 * Logs a reader that has held one snapshot past reader_warn_s: when it first does, then
 * again every reader_warn_s while it stays, so a stuck reader is in the log, not only in
 * /metrics, without a line a second.
 */
static void
warn_reader(struct metrics *m, const struct zt_oldest_reader *o, int64_t now)
{
	if (m->reader_warn_ms == 0 || o->pid == 0 || o->age_ms < m->reader_warn_ms ||
	    (o->txnid == m->warned_txnid && now - m->warned_ms < m->reader_warn_ms))
		return;
	m->warned_txnid = o->txnid;
	m->warned_ms = now;
	log_warnx("store: process %d has held one read snapshot for %" PRId64 " s (%" PRIu64
	          " commits behind, %" PRIu64 "%s pages that cannot be reused): the store grows "
	          "while it stays; end that read transaction",
	    o->pid, o->age_ms / 1000, o->behind, o->pinned_pages, o->pinned_partial ? "+" : "");
}

/*
 * Refreshes the store-derived gauges, at most once a second. Call only while the writer is
 * idle: this thread then has the store to itself.
 */
void
metrics_refresh(struct metrics *m, struct zt_store *s)
{
	struct zt_counters c;
	struct pub_list l = {0};
	uint64_t map = 0, used = 0;
	unsigned readers = 0, max = 0;
	int64_t now = now_monotonic_ms();

	if (m == NULL || now - m->last_refresh_ms < REFRESH_EVERY_MS)
		return;
	m->last_refresh_ms = now;
	int r = zt_store_size(s, &map, &used);
	if (r == 0)
		r = zt_store_readers(s, &readers, &max);
	if (r == 0)
		r = zt_store_counters(s, &c);
	if (r == 0)
		r = zt_store_publishers(s, add_publisher, &l);
	struct zt_oldest_reader old = {0};
	if (r == 0)
		r = zt_store_oldest_reader(s, &m->memo, now, &old);
	if (r < 0) {
		log_warnx("metrics: cannot read the store: %s, ignoring", zt_strerror(r));
		free(l.p);
		return;
	}
	if (l.n > 1)
		qsort(l.p, l.n, sizeof(*l.p), pub_by_id);
	(void)pthread_mutex_lock(&m->mu);
	m->s.map_bytes = map, m->s.used_bytes = used;
	m->s.readers = readers, m->s.readers_max = max;
	m->s.oldest = old;
	m->s.feed_seq = c.feed_seq, m->s.dedup_records = c.dedup_records;
	m->s.watermark_ms = c.watermark_ms;
	free(m->s.pubs);
	m->s.pubs = l.p, m->s.npubs = l.n;
	(void)pthread_mutex_unlock(&m->mu);
	warn_reader(m, &old, now);
}

/* Sets [store] reader_warn_s (at start and on reload; main thread). */
void
metrics_set_reader_warn(struct metrics *m, uint32_t seconds)
{
	if (m != NULL)
		m->reader_warn_ms = (int64_t)seconds * 1000;
}
