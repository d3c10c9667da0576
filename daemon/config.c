/*
 * config.c: the zonetallyd configuration file, in three steps (defaults, parse, validate)
 * driven by one table of keys. Implements zt_config.h; never logs.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "zt_config.h"

enum key_type {
	T_STRING,
	T_LIST, /* space-separated, ZT_CONFIG_MAX_ENDPOINTS at most */
	T_U32,
	T_U64,
	T_I64,
	T_LEVEL, /* error|warning|info|debug */
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t off;   /* of the field in struct zt_config */
	size_t n_off; /* T_LIST: of its count */
	int64_t min;
	int64_t max;
	const char *def;
	bool reloadable; /* SIGHUP applies a new value live; others need a restart */
};

#define F(f) offsetof(struct zt_config, f)

static const struct key keys[] = {
    {"daemon", "state_dir", T_STRING, F(state_dir), 0, 0, 0, "/var/lib/zonetally", false},
    {"daemon", "zones_file", T_STRING, F(zones_file), 0, 0, 0, "/usr/share/zonetally/zones.csv",
        false},
    {"daemon", "log_level", T_LEVEL, F(log_level), 0, 0, 0, "info", true},
    {"ingest", "sub_bind", T_LIST, F(sub_bind), F(n_sub_bind), 0, 0, "tcp://127.0.0.1:7601", false},
    {"ingest", "sub_connect", T_LIST, F(sub_connect), F(n_sub_connect), 0, 0, "", false},
    {"ingest", "subscribe", T_STRING, F(subscribe), 0, 0, 0, "ev.", false},
    {"ingest", "max_message_bytes", T_U32, F(max_message_bytes), 0, 16, 16 << 20, "4096", false},
    {"ingest", "rcvhwm", T_U32, F(rcvhwm), 0, 0, INT32_MAX, "100000", false},
    {"batch", "max_events", T_U32, F(batch_max_events), 0, 1, 1000000, "10000", true},
    {"batch", "max_ms", T_U32, F(batch_max_ms), 0, 0, 60000, "5", true},
    {"batch", "backlog_events", T_U32, F(batch_backlog), 0, 1, 10000000, "100000", true},
    {"validation", "dedup_window_days", T_U32, F(dedup_window_days), 0, 1, 36600, "35", true},
    {"validation", "future_tolerance_s", T_U32, F(future_tolerance_s), 0, 0, 31622400, "300", true},
    {"validation", "max_value_fen", T_I64, F(max_value_fen), 0, 1, INT64_MAX, "100000000000", true},
    {"store", "map_size_mb", T_U64, F(map_size_mb), 0, 1, 1 << 24, "1024", false},
    {"store", "rejects_max", T_U32, F(rejects_max), 0, 0, 100000000, "10000", true},
    {"store", "reader_warn_s", T_U32, F(reader_warn_s), 0, 0, 86400, "300", true},
    {"metrics", "listen", T_STRING, F(metrics_listen), 0, 0, 0, "127.0.0.1:9464", false},
    {"metrics", "dashboard_dir", T_STRING, F(dashboard_dir), 0, 0, 0,
        "/usr/share/zonetally/dashboard", false},
    {"metrics", "api_token_file", T_STRING, F(api_token_file), 0, 0, 0, "", false},
    {"metrics", "http_max_connections", T_U32, F(http_max_connections), 0, 4, 4096, "256", false},
    {"metrics", "http_max_per_address", T_U32, F(http_max_per_address), 0, 1, 4096, "16", false},
    {"metrics", "http_header_timeout_s", T_U32, F(http_header_timeout_s), 0, 1, 300, "5", false},
    {"ingest", "router_bind", T_STRING, F(router_bind), 0, 0, 0, "tcp://127.0.0.1:7602", false},
    {"ingest", "router_window", T_U32, F(router_window), 0, 1, 10000000, "100000", false},
    {"feed", "bind", T_STRING, F(feed_bind), 0, 0, 0, "tcp://127.0.0.1:7603", false},
    {"feed", "heartbeat_ms", T_U32, F(feed_heartbeat_ms), 0, 10, 60000, "1000", false},
    {"feed", "sndhwm", T_U32, F(feed_sndhwm), 0, 0, INT32_MAX, "100000", false},
    {"feed", "max_watchers", T_U32, F(feed_max_watchers), 0, 1, 65536, "64", true},
    {"feed", "watcher_max_bytes", T_U64, F(feed_watcher_max_bytes), 0, 65536, 1 << 30, "16777216",
        false},
    {"feed", "watcher_timeout_ms", T_U32, F(feed_watcher_timeout_ms), 0, 1000, 3600000, "10000",
        false},
    {"query", "bind", T_STRING, F(query_bind), 0, 0, 0, "tcp://127.0.0.1:7604", false},
    {"query", "max_request_bytes", T_U32, F(query_max_request_bytes), 0, 16, 1 << 20, "4096",
        false},
    {"query", "max_pending", T_U32, F(query_max_pending), 0, 1, 65536, "256", false},
    {"query", "max_per_client", T_U32, F(query_max_per_client), 0, 1, 65536, "16", true},
    {"security", "curve_secret_key_file", T_STRING, F(curve_secret_key_file), 0, 0, 0, "", false},
    {"security", "authorized_dir", T_STRING, F(authorized_dir), 0, 0, 0, "authorized_publishers.d",
        true},
    {"security", "readers_dir", T_STRING, F(readers_dir), 0, 0, 0, "authorized_readers.d", true},
};

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* Parses a whole decimal integer: optional '-' only if signed, digits, nothing else. */
static int
parse_int(const char *s, bool is_signed, int64_t *ret)
{
	const char *p = s;
	char *end;

	if (*p == '-' && is_signed)
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	if (is_signed) {
		long long v = strtoll(s, &end, 10);
		if (errno == ERANGE)
			return -ERANGE;
		if (*end != '\0')
			return -EINVAL;
		*ret = v;
		return 0;
	}
	unsigned long long u = strtoull(s, &end, 10);
	if (errno == ERANGE || u > INT64_MAX)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	*ret = (int64_t)u;
	return 0;
}

static void
free_list(char **list, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free(list[i]);
		list[i] = NULL;
	}
	*n = 0;
}

/* Replaces a list with the space-separated words of value. */
static int
set_list(char **list, size_t *n, const char *value, const char **why)
{
	char *copy = strdup(value), *save = NULL;
	if (copy == NULL)
		return -ENOMEM;
	free_list(list, n);
	int r = 0;
	for (char *w = strtok_r(copy, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (*n == ZT_CONFIG_MAX_ENDPOINTS) {
			*why = "too many endpoints (at most 8)";
			r = -EINVAL;
			break;
		}
		list[*n] = strdup(w);
		if (list[*n] == NULL) {
			r = -ENOMEM;
			break;
		}
		(*n)++;
	}
	free(copy);
	return r;
}

static int
set_level(int *field, const char *value, const char **why)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(value, level_names[i]) == 0) {
			*field = (int)i;
			return 0;
		}
	}
	*why = "expected error, warning, info or debug";
	return -EINVAL;
}

static int
set_number(struct zt_config *c, const struct key *k, const char *value, const char **why)
{
	int64_t v;
	int r = parse_int(value, k->type == T_I64, &v);

	if (r == -ERANGE || (r == 0 && (v < k->min || v > k->max))) {
		*why = "out of range";
		return -EINVAL;
	}
	if (r < 0) {
		*why = "not a whole decimal number";
		return -EINVAL;
	}
	char *p = (char *)c + k->off;
	if (k->type == T_U32) {
		uint32_t u = (uint32_t)v;
		memcpy(p, &u, sizeof(u));
	} else if (k->type == T_U64) {
		uint64_t u = (uint64_t)v;
		memcpy(p, &u, sizeof(u));
	} else {
		memcpy(p, &v, sizeof(v));
	}
	return 0;
}

/* Sets one key from its text; *why explains an -EINVAL. */
static int
set_key(struct zt_config *c, const struct key *k, const char *value, const char **why)
{
	char *p = (char *)c + k->off;

	switch (k->type) {
	case T_STRING:
		return zt_config_set_string((char **)(void *)p, value);
	case T_LIST:
		return set_list(
		    (char **)(void *)p, (size_t *)(void *)((char *)c + k->n_off), value, why);
	case T_LEVEL:
		return set_level((int *)(void *)p, value, why);
	case T_U32:
	case T_U64:
	case T_I64:
		return set_number(c, k, value, why);
	}
	return -EINVAL;
}

int
zt_config_set_string(char **field, const char *value)
{
	char *copy = strdup(value);
	if (copy == NULL)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

int
zt_config_init(struct zt_config *c)
{
	const char *why = NULL;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int r = set_key(c, &keys[i], keys[i].def, &why);
		if (r < 0) {
			zt_config_done(c);
			return r;
		}
	}
	return 0;
}

void
zt_config_done(struct zt_config *c)
{
	free(c->state_dir);
	free(c->zones_file);
	free(c->subscribe);
	free(c->metrics_listen);
	free(c->dashboard_dir);
	free(c->api_token_file);
	free(c->router_bind);
	free(c->feed_bind);
	free(c->query_bind);
	free(c->curve_secret_key_file);
	free(c->authorized_dir);
	free(c->readers_dir);
	free_list(c->sub_bind, &c->n_sub_bind);
	free_list(c->sub_connect, &c->n_sub_connect);
	memset(c, 0, sizeof(*c));
}

/* State of one parse: inih reports only the first error's line, so we keep its text. */
struct parse {
	struct zt_config *c;
	FILE *f;
	const char *path;
	size_t line;     /* lines read so far, as inih counts them */
	size_t err_line; /* 0: no error recorded */
	int err_code;    /* -EINVAL or -ENOMEM */
	char *err;
	size_t errlen;
};

static void parse_error(struct parse *ps, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
parse_error(struct parse *ps, int code, const char *fmt, ...)
{
	if (ps->err_line != 0)
		return;
	ps->err_line = ps->line;
	ps->err_code = code;
	if (ps->err == NULL || ps->errlen == 0)
		return;
	int n = snprintf(ps->err, ps->errlen, "%s:%zu: ", ps->path, ps->line);
	if (n < 0 || (size_t)n >= ps->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* fgets for inih that counts lines and refuses the ones it would silently cut. */
static char *
reader(char *buf, int size, void *arg)
{
	struct parse *ps = arg;

	if (fgets(buf, size, ps->f) == NULL)
		return NULL;
	ps->line++;
	if (strchr(buf, '\n') == NULL && !feof(ps->f)) {
		int ch;
		while ((ch = fgetc(ps->f)) != EOF && ch != '\n')
			;
		parse_error(ps, -EINVAL, "line longer than %d bytes", size - 1);
	}
	return buf;
}

static int
handler(void *arg, const char *section, const char *name, const char *value)
{
	struct parse *ps = arg;
	bool known_section = false;
	const char *why = "invalid value";

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(section, keys[i].section) != 0)
			continue;
		known_section = true;
		if (strcmp(name, keys[i].name) != 0)
			continue;
		int r = set_key(ps->c, &keys[i], value, &why);
		if (r == -ENOMEM)
			parse_error(ps, r, "key '%s': out of memory", name);
		else if (r < 0)
			parse_error(ps, r, "key '%s': %s: '%s'", name, why, value);
		return r < 0 ? 0 : 1;
	}
	if (!known_section)
		parse_error(ps, -EINVAL, "section '[%s]': unknown section", section);
	else
		parse_error(ps, -EINVAL, "key '%s': unknown key in section [%s]", name, section);
	return 0;
}

int
zt_config_load(struct zt_config *c, const char *path, char *err, size_t errlen)
{
	struct parse ps = {.c = c, .path = path, .err = err, .errlen = errlen};

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	ps.f = fopen(path, "re");
	if (ps.f == NULL) {
		int r = -errno;
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	int r = ini_parse_stream(reader, &ps, handler, &ps);
	(void)fclose(ps.f);
	if (r == -2)
		return -ENOMEM;
	if (r > 0 && (ps.err_line == 0 || (size_t)r < ps.err_line)) {
		ps.err_line = 0;
		ps.line = (size_t)r;
		parse_error(&ps, -EINVAL, "syntax error (expected [section] or key = value)");
	}
	if (ps.err_line != 0)
		return ps.err_code;
	return 0;
}

static bool
endpoint_ok(const char *ep)
{
	const char *sep = strstr(ep, "://");
	return sep != NULL && sep != ep && sep[3] != '\0';
}

/* "", "off" or a dotted IPv4 address, ':', a port 0..65535 (0: any free port). */
static bool
listen_ok(const char *s)
{
	unsigned a, b, c, d, port;
	char tail;

	if (s == NULL || s[0] == '\0' || strcmp(s, "off") == 0)
		return true;
	if (sscanf(s, "%3u.%3u.%3u.%3u:%5u%c", &a, &b, &c, &d, &port, &tail) != 5)
		return false;
	return a < 256 && b < 256 && c < 256 && d < 256 && port < 65536;
}

int
zt_config_validate(const struct zt_config *c, char *err, size_t errlen)
{
	const char *bad = NULL;

	if (c->state_dir == NULL || c->state_dir[0] == '\0')
		bad = "[daemon] state_dir: must not be empty";
	else if (c->n_sub_bind + c->n_sub_connect == 0)
		bad = "[ingest] sub_bind and sub_connect: at least one endpoint is needed";
	for (size_t i = 0; bad == NULL && i < c->n_sub_bind; i++)
		if (!endpoint_ok(c->sub_bind[i]))
			bad = "[ingest] sub_bind: an endpoint is not transport://address";
	for (size_t i = 0; bad == NULL && i < c->n_sub_connect; i++)
		if (!endpoint_ok(c->sub_connect[i]))
			bad = "[ingest] sub_connect: an endpoint is not transport://address";
	if (bad == NULL && !listen_ok(c->metrics_listen))
		bad = "[metrics] listen: expected IPV4:PORT, or off";
	if (bad == NULL && c->query_max_per_client > c->query_max_pending)
		bad = "[query] max_per_client: must not exceed max_pending";
	if (bad == NULL && c->http_max_per_address > c->http_max_connections)
		bad = "[metrics] http_max_per_address: must not exceed http_max_connections";
	if (bad == NULL)
		return 0;
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "%s", bad);
	return -EINVAL;
}

/* Whether key k holds the same value in a and b. */
static bool
key_equal(const struct key *k, const struct zt_config *a, const struct zt_config *b)
{
	const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;

	switch (k->type) {
	case T_STRING: {
		const char *sa = *(char *const *)(const void *)pa;
		const char *sb = *(char *const *)(const void *)pb;
		return strcmp(sa != NULL ? sa : "", sb != NULL ? sb : "") == 0;
	}
	case T_LIST: {
		size_t na = *(const size_t *)(const void *)((const char *)a + k->n_off);
		size_t nb = *(const size_t *)(const void *)((const char *)b + k->n_off);
		char *const *la = (char *const *)(const void *)pa;
		char *const *lb = (char *const *)(const void *)pb;
		if (na != nb)
			return false;
		for (size_t i = 0; i < na; i++)
			if (strcmp(la[i], lb[i]) != 0)
				return false;
		return true;
	}
	case T_LEVEL:
		return memcmp(pa, pb, sizeof(int)) == 0;
	case T_U32:
		return memcmp(pa, pb, sizeof(uint32_t)) == 0;
	case T_U64:
	case T_I64:
		return memcmp(pa, pb, sizeof(uint64_t)) == 0;
	}
	return false;
}

int
zt_config_diff(
    const struct zt_config *a, const struct zt_config *b, zt_config_diff_cb cb, void *arg)
{
	int n = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (key_equal(&keys[i], a, b))
			continue;
		n++;
		if (cb != NULL)
			cb(keys[i].section, keys[i].name, keys[i].reloadable, arg);
	}
	return n;
}

/* Copies key k from src to dst (strings and lists duplicated). */
static int
key_copy(const struct key *k, struct zt_config *dst, const struct zt_config *src)
{
	char *pd = (char *)dst + k->off;
	const char *ps = (const char *)src + k->off;

	switch (k->type) {
	case T_STRING:
		return zt_config_set_string((char **)(void *)pd,
		    *(char *const *)(const void *)ps ? *(char *const *)(const void *)ps : "");
	case T_LIST: {
		char **ld = (char **)(void *)pd;
		char *const *ls = (char *const *)(const void *)ps;
		size_t *nd = (size_t *)(void *)((char *)dst + k->n_off);
		size_t ns = *(const size_t *)(const void *)((const char *)src + k->n_off);
		free_list(ld, nd);
		for (size_t i = 0; i < ns; i++) {
			if ((ld[i] = strdup(ls[i])) == NULL)
				return -ENOMEM;
			(*nd)++;
		}
		return 0;
	}
	case T_LEVEL:
		memcpy(pd, ps, sizeof(int));
		return 0;
	case T_U32:
		memcpy(pd, ps, sizeof(uint32_t));
		return 0;
	case T_U64:
	case T_I64:
		memcpy(pd, ps, sizeof(uint64_t));
		return 0;
	}
	return -EINVAL;
}

int
zt_config_copy_keys(struct zt_config *dst, const struct zt_config *src, bool reloadable)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].reloadable != reloadable)
			continue;
		int r = key_copy(&keys[i], dst, src);
		if (r < 0)
			return r;
	}
	return 0;
}
