/*
 * web_int.h: what the files of the HTTP dashboard and API share (web.c: routing, access,
 * static files, replies; web_api.c: /api/totals and /api/top; web_stream.c: /api/stream;
 * web_conn.c: the header deadline). Only libmicrohttpd's threads and metrics.c use these.
 */
#ifndef ZT_WEB_INT_H
#define ZT_WEB_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include <microhttpd.h>

#include "daemon.h"
#include "zonetally.h"
#include "zonetally.pb-c.h"

#define WEB_TOKEN_MAX   256
#define WEB_MAX_PAGES   16 /* page and API requests in progress at once; 503 beyond */
#define WEB_MAX_STREAMS 8  /* open /api/stream responses; 503 beyond */

struct web {
	pthread_mutex_t mu; /* guards q (one store handle: one reader at a time) and streams */
	struct query q;     /* the HTTP threads' own: a shared store handle and feed below */
	struct feed feed;   /* copy of the feed's codes, epoch and endpoint; no socket */
	struct sse *sse;    /* the stream history the main thread appends to */
	unsigned streams;   /* open /api/stream responses */
	/* issue 14: lock-free, so that /metrics never waits behind w->mu */
	atomic_uint pages;                    /* page and API requests in progress */
	atomic_uint_fast64_t refused_pages;   /* 503s for WEB_MAX_PAGES */
	atomic_uint_fast64_t refused_streams; /* 503s for WEB_MAX_STREAMS */
	char token[WEB_TOKEN_MAX + 2];
	size_t token_len; /* 0: /api/ is open (loopback default) */
	char dir[PATH_MAX];
};

/* web.c */
int web_reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *cache,
    char *body, size_t len);
int web_headers(struct MHD_Response *r, const char *type, const char *cache);
int web_error(struct MHD_Connection *conn, unsigned status, const char *why);
struct json_object;
int web_json(struct MHD_Connection *conn, struct json_object *o);

void web_counts(struct web *w, uint64_t *ret_pages, uint64_t *ret_streams);

/* web_conn.c */
struct web_conn;
int web_conn_new(unsigned timeout_s, struct web_conn **ret);
struct web_conn *web_conn_free(struct web_conn *g);
void web_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code);
void web_conn_request(struct web_conn *g, struct MHD_Connection *conn);
void web_conn_completed(
    void *cls, struct MHD_Connection *conn, void **req, enum MHD_RequestTerminationCode toe);
void web_conn_counts(struct web_conn *g, unsigned *ret_open, uint64_t *ret_cut);

/* web_api.c */
int web_ask(struct web *w, Zonetally__V1__QueryRequest *rq, Zonetally__V1__QueryResponse **ret,
    char *err, size_t errlen);
int web_target(const struct web *w, int level, uint32_t code, struct zt_target *ret);
int api_totals(struct web *w, struct MHD_Connection *conn);
int api_top(struct web *w, struct MHD_Connection *conn);

/* web_stream.c */
int api_stream(struct web *w, struct MHD_Connection *conn);

#endif /* ZT_WEB_INT_H */
