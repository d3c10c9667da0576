/*
 * web.c: what the HTTP listener serves besides /metrics (issue 8): the dashboard's static
 * files, GET /api/totals and GET /api/top (the JSON of `zonetally get|top --json`, built by
 * the same libzonetally functions), and GET /api/stream (web_stream.c). It runs on
 * libmicrohttpd's connection threads and reads the store only through its own read-only
 * handle and the query socket's code (query_handle()), one request at a time under a
 * mutex: the main thread and the writer never wait for it. Nothing here writes.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "daemon.h"
#include "web_int.h"
#include "zonetally.h"

#define FILE_MAX (2u << 20) /* a static file larger than this is refused */
#define HISTORY  16384u     /* stream records kept for Last-Event-ID resumes */

/* The dashboard's files: a fixed table, so no URL ever names a path on disk. */
static const struct {
	const char *url, *file, *type;
} files[] = {
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/index.html", "index.html", "text/html; charset=utf-8"},
    {"/dashboard.js", "dashboard.js", "text/javascript; charset=utf-8"},
    {"/dashboard.css", "dashboard.css", "text/css; charset=utf-8"},
};

/* Reads the bearer token file: the checks `zonetally check-config` makes (zt_keyfile.h). */
static int
load_token(struct web *w, const char *path, char *err, size_t errlen)
{
	return zt_token_load(path, w->token, sizeof(w->token), &w->token_len, err, errlen);
}

/*
 * Prepares what the HTTP threads serve; call before the writer owns the store.
 * @param[in] config_path the configuration file (absolute) or NULL: relative paths start there
 * @param[out] ret freed with web_free() after the HTTP server has stopped
 * @return 0; -ENOMEM; the token file's error (err says which and why).
 */
int
web_new(const struct zt_config *c, struct zt_store *owner, const struct feed *f,
    const char *config_path, struct web **ret, char *err, size_t errlen)
{
	struct web *w = calloc(1, sizeof(*w));
	char path[PATH_MAX];
	int r = -ENOMEM;

	(void)snprintf(err, errlen, "http: out of memory");
	if (w == NULL || pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		return -ENOMEM;
	}
	atomic_init(&w->pages, 0);
	atomic_init(&w->refused_pages, 0);
	atomic_init(&w->refused_streams, 0);
	w->q.feed = &w->feed;
	w->q.max_request = c->query_max_request_bytes;
	(void)snprintf(w->dir, sizeof(w->dir), "%s", c->dashboard_dir);
	if (feed_view_init(&w->feed, f) < 0 || sse_new(HISTORY, f->last_feed_seq, &w->sse) < 0 ||
	    zt_store_open_shared(owner, &w->q.store) < 0)
		goto fail;
	if (c->api_token_file[0] != '\0' &&
	    ((r = zt_keyfile_resolve(config_path, c->api_token_file, path, sizeof(path))) < 0 ||
	        (r = load_token(w, path, err, errlen)) < 0))
		goto fail;
	*ret = w;
	return 0;
fail:
	web_free(w);
	return r;
}

/* Frees w (the HTTP server must be stopped). Takes NULL; returns NULL. */
struct web *
web_free(struct web *w)
{
	if (w == NULL)
		return NULL;
	w->q.store = zt_store_free(w->q.store);
	w->sse = sse_free(w->sse);
	feed_close(&w->feed);
	explicit_bzero(w->token, sizeof(w->token));
	(void)pthread_mutex_destroy(&w->mu);
	free(w);
	return NULL;
}

/* The history the feed appends to (main thread). */
struct sse *
web_sse(const struct web *w)
{
	return w != NULL ? w->sse : NULL;
}

/* Ends every open stream: call before stopping the HTTP server, so that it can join them. */
void
web_stop(struct web *w)
{
	if (w != NULL)
		sse_stop(w->sse);
}

/*
 * Queues a response. body is malloc'd and taken (freed also on failure); cache is the
 * Cache-Control value: the API and the stream say no-store, static files no-cache (with
 * an ETag, so a reload asks and an upgrade is seen at once).
 */
int
web_reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *cache,
    char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	int ret =
	    web_headers(r, type, cache) < 0 ? MHD_NO : (int)MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Content type, caching and the headers that keep a browser from guessing or framing. */
int
web_headers(struct MHD_Response *r, const char *type, const char *cache)
{
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache) != MHD_YES ||
	    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(r, "X-Frame-Options", "DENY") != MHD_YES ||
	    MHD_add_response_header(r, "Referrer-Policy", "no-referrer") != MHD_YES ||
	    MHD_add_response_header(r, "Content-Security-Policy",
	        "default-src 'self'; connect-src 'self'; img-src 'self' data:") != MHD_YES)
		return -ENOMEM;
	return 0;
}

/* {"error": why} with the status; why is copied. */
int
web_error(struct MHD_Connection *conn, unsigned status, const char *why)
{
	struct json_object *o = json_object_new_object();
	char *text = NULL;

	if (o != NULL && json_object_object_add(o, "error", json_object_new_string(why)) == 0)
		text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (text == NULL)
		return MHD_NO;
	return web_reply(
	    conn, status, "application/json; charset=utf-8", "no-store", text, strlen(text));
}

/* Serialises o (taken) as the 200 answer, or a 500 when o is NULL (out of memory). */
int
web_json(struct MHD_Connection *conn, struct json_object *o)
{
	const char *s = o != NULL ? json_object_to_json_string_ext(
	                                o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
	                          : NULL;
	char *text = s != NULL ? strdup(s) : NULL;

	json_object_put(o);
	if (text == NULL)
		return web_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return web_reply(
	    conn, MHD_HTTP_OK, "application/json; charset=utf-8", "no-store", text, strlen(text));
}

/* Compares without stopping at the first difference: the time says nothing of the token. */
static bool
token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;

	for (size_t i = 0; i < alen && i < blen; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/*
 * Whether the request may read /api/: always when no token is configured; else with
 * "Authorization: Bearer TOKEN", or ?access_token=TOKEN (RFC 6750 2.3) because a browser's
 * EventSource cannot send headers.
 */
static bool
authorized(const struct web *w, struct MHD_Connection *conn)
{
	if (w->token_len == 0)
		return true;
	const char *h =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "access_token");
	if (h != NULL && strncmp(h, "Bearer ", 7) == 0)
		return token_equal(h + 7, strlen(h + 7), w->token, w->token_len);
	return q != NULL && token_equal(q, strlen(q), w->token, w->token_len);
}

/* 401 with the challenge RFC 6750 asks for. */
static int
unauthorized(struct MHD_Connection *conn)
{
	static const char text[] = "{\"error\":\"a bearer token is required for /api/\"}";
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    sizeof(text) - 1, (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);

	if (r == NULL)
		return MHD_NO;
	int ret = MHD_NO;
	if (web_headers(r, "application/json; charset=utf-8", "no-store") == 0 &&
	    MHD_add_response_header(
	        r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"zonetally\"") == MHD_YES)
		ret = MHD_queue_response(conn, MHD_HTTP_UNAUTHORIZED, r);
	MHD_destroy_response(r);
	return ret;
}

/* Reads a whole small file into a malloc'd buffer. @return 0 or a negative errno. */
static int
read_file(const char *path, char **ret, size_t *ret_len, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || (size_t)st->st_size > FILE_MAX) {
		(void)close(fd);
		return -EINVAL;
	}
	size_t len = (size_t)st->st_size, got = 0;
	char *p = malloc(len ? len : 1);
	while (p != NULL && got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	(void)close(fd);
	if (p == NULL || got != len) {
		free(p);
		return p == NULL ? -ENOMEM : -EIO;
	}
	*ret = p;
	*ret_len = len;
	return 0;
}

/* Serves one of the dashboard's files, 304 when the browser's copy is current. */
static int
serve_file(const struct web *w, struct MHD_Connection *conn, size_t i)
{
	char path[PATH_MAX + 64], etag[64], *body = NULL;
	struct stat st;
	size_t len = 0;

	(void)snprintf(path, sizeof(path), "%s/%s", w->dir, files[i].file);
	int r = read_file(path, &body, &len, &st);
	if (r < 0)
		return web_error(
		    conn, MHD_HTTP_NOT_FOUND, "the dashboard is not installed (dashboard_dir)");
	(void)snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
	    (unsigned long long)st.st_size);
	const char *inm =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	unsigned status = MHD_HTTP_OK;
	if (inm != NULL && strcmp(inm, etag) == 0) {
		status = MHD_HTTP_NOT_MODIFIED;
		len = 0;
	}
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	int ret = MHD_NO;
	if (web_headers(resp, files[i].type, "no-cache") == 0 &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag) == MHD_YES)
		ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Routes one request (web_request() holds one of the WEB_MAX_PAGES places). */
static int
route(struct web *w, struct MHD_Connection *conn, const char *url)
{
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(url, files[i].url) == 0)
			return serve_file(w, conn, i);
	if (strncmp(url, "/api/", 5) != 0)
		return web_error(conn, MHD_HTTP_NOT_FOUND, "no such page: try / or /metrics");
	if (!authorized(w, conn))
		return unauthorized(conn);
	if (strcmp(url, "/api/totals") == 0)
		return api_totals(w, conn);
	if (strcmp(url, "/api/top") == 0)
		return api_top(w, conn);
	if (strcmp(url, "/api/stream") == 0)
		return api_stream(w, conn);
	return web_error(
	    conn, MHD_HTTP_NOT_FOUND, "no such API: /api/totals, /api/top, /api/stream");
}

/*
 * Serves every URL but /metrics (libmicrohttpd's thread, GET or HEAD already checked). At
 * most WEB_MAX_PAGES at once (a 503 beyond), so that requests queueing for the store handle
 * cannot pile up; /metrics never counts against it.
 * @return MHD_YES or MHD_NO, as the access handler returns.
 */
int
web_request(struct web *w, struct MHD_Connection *conn, const char *url)
{
	if (atomic_fetch_add(&w->pages, 1) >= WEB_MAX_PAGES) {
		(void)atomic_fetch_sub(&w->pages, 1);
		(void)atomic_fetch_add(&w->refused_pages, 1);
		return web_error(
		    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "too many requests in progress");
	}
	int r = route(w, conn, url);
	(void)atomic_fetch_sub(&w->pages, 1);
	return r;
}

/* The 503s given for WEB_MAX_PAGES and WEB_MAX_STREAMS since start (any thread). */
void
web_counts(struct web *w, uint64_t *ret_pages, uint64_t *ret_streams)
{
	*ret_pages = w != NULL ? atomic_load(&w->refused_pages) : 0;
	*ret_streams = w != NULL ? atomic_load(&w->refused_streams) : 0;
}
