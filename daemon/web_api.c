/*
 * web_api.c: GET /api/totals and GET /api/top. Each request becomes a QueryRequest answered
 * by query_handle(), the query socket's own code, in one read transaction; the answer is
 * printed by the libzonetally functions behind `zonetally get|top --json`, so the shapes are
 * the CLI's by construction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "web_int.h"

#define TOP_LIMIT 1000u /* n of /api/top, at most */

typedef Zonetally__V1__QueryRequest Req;
typedef Zonetally__V1__QueryResponse Resp;

/*
 * Answers rq through the query code, under the mutex that owns the store handle.
 * @param[out] ret the decoded answer, freed with zonetally__v1__query_response__free_unpacked
 * @return 0; -EINVAL (the answer's error, in err); -ENOMEM; -EIO.
 */
int
web_ask(struct web *w, Req *rq, Resp **ret, char *err, size_t errlen)
{
	uint8_t body[512];
	size_t n = zonetally__v1__query_request__get_packed_size(rq), len = 0;

	if (n > sizeof(body)) {
		(void)snprintf(err, errlen, "request too large");
		return -EINVAL;
	}
	(void)zonetally__v1__query_request__pack(rq, body);
	(void)pthread_mutex_lock(&w->mu);
	uint8_t *out = query_handle(&w->q, body, n, &len);
	(void)pthread_mutex_unlock(&w->mu);
	if (out == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	Resp *r = zonetally__v1__query_response__unpack(NULL, len, out);
	free(out);
	if (r == NULL) {
		(void)snprintf(err, errlen, "cannot decode the store's answer");
		return -EIO;
	}
	if (r->error != NULL) {
		(void)snprintf(err, errlen, "%s", r->error);
		zonetally__v1__query_response__free_unpacked(r, NULL);
		return -EINVAL;
	}
	*ret = r;
	return 0;
}

/* What a (level, code) block names: zone names from the registry, else static ones. */
int
web_target(const struct web *w, int level, uint32_t code, struct zt_target *ret)
{
	const struct zt_zone *z = level == ZT_LEVEL_ZONE ? zt_store_zone(w->q.store, code) : NULL;

	if (level == ZT_LEVEL_ZONE && z == NULL)
		return -ENOENT;
	return zt_target_of(z, code, level == ZT_LEVEL_PROVINCE, ret);
}

static const char *
arg(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/*
 * ?period=YYYY-MM-DD|YYYY-MM|YYYY|all; absent: today in China Standard Time, as the CLI.
 * @return 0 or -EINVAL.
 */
static int
period_arg(struct MHD_Connection *conn, struct zt_period *ret)
{
	const char *p = arg(conn, "period");
	size_t len = p != NULL ? strlen(p) : 0;

	if (p == NULL) {
		*ret = zt_period_day_of(now_wall_ms());
		return 0;
	}
	if (strcmp(p, "all") == 0)
		return zt_period_parse(ZT_GRAN_ALL, NULL, ret);
	int gran = len == 10 ? ZT_GRAN_DAY
	    : len == 7       ? ZT_GRAN_MONTH
	    : len == 4       ? ZT_GRAN_YEAR
	                     : -1;
	return gran < 0 ? -EINVAL : zt_period_parse(gran, p, ret);
}

/* Parses a whole decimal number within [min, max]. @return 0 or -EINVAL. */
static int
number_arg(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;
	size_t i = 0;

	for (; s[i] >= '0' && s[i] <= '9' && i < 9; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Answers a failed query: the request's fault (400) or the daemon's (500). */
static int
ask_failed(struct MHD_Connection *conn, int r, const char *err)
{
	return web_error(
	    conn, r == -EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR, err);
}

/* A request of op over one period. */
static Req
period_request(Zonetally__V1__QueryOp op, const struct zt_period *p)
{
	Req rq = ZONETALLY__V1__QUERY_REQUEST__INIT;

	rq.has_op = rq.has_granularity = rq.has_bucket = 1;
	rq.op = op;
	rq.granularity = p->gran;
	rq.bucket = p->bucket;
	return rq;
}

/* GET /api/totals?code=CODE[&period=P][&province=1]: `zonetally get CODE --json`. */
int
api_totals(struct web *w, struct MHD_Connection *conn)
{
	const char *code_s = arg(conn, "code"), *prov = arg(conn, "province");
	unsigned long code;
	struct zt_period p;
	struct zt_target t;
	char err[160];

	if (code_s == NULL || strlen(code_s) != 6 || number_arg(code_s, 0, 999999, &code) < 0)
		return web_error(conn, MHD_HTTP_BAD_REQUEST, "code: expected 6 digits");
	if (period_arg(conn, &p) < 0)
		return web_error(conn, MHD_HTTP_BAD_REQUEST,
		    "period: expected YYYY-MM-DD, YYYY-MM, YYYY or all");
	bool force = prov != NULL && strcmp(prov, "1") == 0;
	if (zt_target_of(zt_store_zone(w->q.store, (uint32_t)code), (uint32_t)code, force, &t) < 0)
		return web_error(
		    conn, MHD_HTTP_NOT_FOUND, "code: not a zone, a province or 000000");
	Req rq = period_request(ZONETALLY__V1__QUERY_OP__QUERY_GET, &p);
	Resp *resp = NULL;
	rq.has_level = rq.has_code = 1;
	rq.level = t.level;
	rq.code = t.code;
	int r = web_ask(w, &rq, &resp, err, sizeof(err));
	if (r < 0)
		return ask_failed(conn, r, err);
	struct zt_qblock qb = {0};
	if (resp->n_blocks != 1 || zt_qblock_decode(resp->blocks[0], &qb) < 0) {
		zonetally__v1__query_response__free_unpacked(resp, NULL);
		return web_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "unexpected answer");
	}
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	return web_json(conn, zt_fmt_get_json(&t, &p, &qb.b));
}

/* ?by=import|export|total (default total) as enum zt_direction. @return 0 or -EINVAL. */
static int
by_arg(const char *s, int *ret)
{
	static const char *const names[ZT_DIR__COUNT] = {"total", "import", "export"};

	for (int d = 0; d < ZT_DIR__COUNT; d++)
		if (strcmp(s, names[d]) == 0) {
			*ret = d;
			return 0;
		}
	return -EINVAL;
}

/* Ranks the answer's blocks (already in order) into zt_ranked; prints top --json. */
static int
top_reply(struct web *w, struct MHD_Connection *conn, const Resp *resp, const struct zt_period *p,
    const char *by)
{
	struct zt_ranked *v = calloc(resp->n_blocks ? resp->n_blocks : 1, sizeof(*v));
	size_t n = 0;

	if (v == NULL)
		return web_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	for (size_t i = 0; i < resp->n_blocks; i++) {
		struct zt_qblock qb;
		if (zt_qblock_decode(resp->blocks[i], &qb) < 0)
			continue;
		v[n].z = zt_store_zone(w->q.store, qb.code);
		v[n].b = qb.b;
		n += v[n].z != NULL;
	}
	int ret = web_json(conn, zt_fmt_top_json(p, by, v, n));
	free(v);
	return ret;
}

/* GET /api/top[?by=D][&n=N][&period=P]: `zonetally top --json`. */
int
api_top(struct web *w, struct MHD_Connection *conn)
{
	const char *by = arg(conn, "by"), *n_s = arg(conn, "n");
	unsigned long limit = 10;
	int dir = ZT_DIR_ALL;
	struct zt_period p;
	char err[160];

	if (by != NULL && by_arg(by, &dir) < 0)
		return web_error(
		    conn, MHD_HTTP_BAD_REQUEST, "by: expected import, export or total");
	if (n_s != NULL && number_arg(n_s, 1, TOP_LIMIT, &limit) < 0)
		return web_error(conn, MHD_HTTP_BAD_REQUEST, "n: expected 1 to 1000");
	if (period_arg(conn, &p) < 0)
		return web_error(conn, MHD_HTTP_BAD_REQUEST,
		    "period: expected YYYY-MM-DD, YYYY-MM, YYYY or all");
	Req rq = period_request(ZONETALLY__V1__QUERY_OP__QUERY_TOP, &p);
	Resp *resp = NULL;
	rq.has_by_direction = rq.has_limit = 1;
	rq.by_direction = (uint32_t)dir;
	rq.limit = (uint32_t)limit;
	int r = web_ask(w, &rq, &resp, err, sizeof(err));
	if (r < 0)
		return ask_failed(conn, r, err);
	static const char *const names[ZT_DIR__COUNT] = {"total", "import", "export"};
	int ret = top_reply(w, conn, resp, &p, names[dir]);
	zonetally__v1__query_response__free_unpacked(resp, NULL);
	return ret;
}
