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

#define REFRESH_EVERY_MS 1000
#define MAX_PUBLISHERS   1000 /* label cardinality bound: the busiest are kept */
#define N_LAT            14
#define N_SIZE           6
#define MAX_CONNECTIONS  64U    /* HTTP connections (threads), idle ones included */
#define REQUEST_MEMORY   16384U /* per connection: a longer URL or header block gets 414/431 */

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
	uint64_t reloads_ok, reloads_failed;
	struct zt_publisher *pubs;
	size_t npubs;
	double start_s;
};

struct metrics {
	pthread_mutex_t mu;
	struct web *web; /* issue 8: every other URL; NULL: only /metrics */
	struct snap s;
	struct MHD_Daemon *mhd;
	char bound[64];
	int64_t last_refresh_ms;
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
	gauge(b, "zonetally_feed_seq", "Sequence number of the last commit (stored with it).",
	    (double)s->feed_seq);
	gauge(b, "zonetally_dedup_records", "Event ids kept for deduplication.",
	    (double)s->dedup_records);
	gauge(b, "zonetally_event_watermark_seconds", "Newest accepted event time, unix seconds.",
	    (double)s->watermark_ms / 1000.0);
	gauge(b, "zonetally_start_time_seconds", "When this daemon started, unix seconds.",
	    s->start_s);
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
	gauge(b, "zonetally_feed_watchers", "Feed connections past their handshake.",
	    (double)watchers);
	header(b, "zonetally_feed_watchers_refused_total", "counter",
	    "Feed handshakes refused since start because [feed] max_watchers were connected.");
	sb_printf(b, "zonetally_feed_watchers_refused_total %" PRIu64 "\n", refused);
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
 * Starts the HTTP endpoint on `listen` ("A.B.C.D:PORT"; "" or "off": no endpoint, NULL
 * returned with no error).
 * @param[out] ret the metrics (also when off: recording still works), freed by metrics_free
 * @return 0 or a negative errno (err says which address and why).
 */
int
metrics_new(const char *listen, struct web *web, struct metrics **ret, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct sockaddr_in sa;

	if (m == NULL || pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		(void)snprintf(err, errlen, "metrics: out of memory");
		return -ENOMEM;
	}
	m->s.start_s = (double)now_wall_ms() / 1000.0;
	m->web = web;
	*ret = m;
	if (listen[0] == '\0' || strcmp(listen, "off") == 0)
		return 0;
	if (parse_listen(listen, &sa) < 0) {
		(void)snprintf(err, errlen, "metrics: bad listen address '%s'", listen);
		return -EINVAL;
	}
	/* A thread per connection: an event stream waits for the next commit inside its
	 * content callback, which would stall every other client of a single polling thread.
	 * The connection limit bounds the threads; idle or unread connections time out. */
	m->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	        MHD_USE_POLL | MHD_USE_ERROR_LOG,
	    ntohs(sa.sin_port), NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)REQUEST_MEMORY, MHD_OPTION_END);
	if (m->mhd == NULL || record_bound(m) < 0) {
		int r = errno != 0 ? -errno : -EIO;
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
		/* batch.peer: 0 for the SUB socket, else the acknowledged path's peer */
		struct path_counts *c = &m->s.path[b->peer != NULL && b->peer[i] != 0];
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

struct pub_list {
	struct zt_publisher *p;
	size_t n, cap;
};

static int
add_publisher(const struct zt_publisher *p, void *arg)
{
	struct pub_list *l = arg;

	if (l->n == l->cap) {
		if (l->cap == MAX_PUBLISHERS)
			return 0;
		size_t cap = l->cap ? l->cap * 2 : 16;
		cap = cap > MAX_PUBLISHERS ? MAX_PUBLISHERS : cap;
		struct zt_publisher *np = realloc(l->p, cap * sizeof(*np));
		if (np == NULL)
			return -ENOMEM;
		l->p = np;
		l->cap = cap;
	}
	l->p[l->n++] = *p;
	return 0;
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
	if (r < 0) {
		log_warnx("metrics: cannot read the store: %s, ignoring", zt_strerror(r));
		free(l.p);
		return;
	}
	(void)pthread_mutex_lock(&m->mu);
	m->s.map_bytes = map, m->s.used_bytes = used;
	m->s.readers = readers, m->s.readers_max = max;
	m->s.feed_seq = c.feed_seq, m->s.dedup_records = c.dedup_records;
	m->s.watermark_ms = c.watermark_ms;
	free(m->s.pubs);
	m->s.pubs = l.p, m->s.npubs = l.n;
	(void)pthread_mutex_unlock(&m->mu);
}
