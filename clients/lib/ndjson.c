/*
 * ndjson.c: one NDJSON line to a wire event. This is a transport's parser, not a validator:
 * values the daemon must reject (unknown enum numbers, ids of other lengths, bad publisher
 * text) pass through unchanged; only text that cannot be represented on the wire (not JSON,
 * a field of the wrong JSON type, an unknown field, an overlong string, a bad date) is an
 * input error.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "zonetally.h"

/* Formats an error for the caller; always returns -EINVAL. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* An integer field in [min, max]. */
static int
get_int(struct json_object *v, const char *key, int64_t min, int64_t max, int64_t *ret, char *err,
    size_t errlen)
{
	if (!json_object_is_type(v, json_type_int))
		return fail(err, errlen, "field '%s': expected an integer", key);
	errno = 0;
	int64_t x = json_object_get_int64(v);
	if (errno != 0 || x < min || x > max ||
	    (x == INT64_MAX && max == INT64_MAX &&
	        json_object_get_uint64(v) != (uint64_t)INT64_MAX))
		return fail(
		    err, errlen, "field '%s': %s out of range", key, json_object_get_string(v));
	*ret = x;
	return 0;
}

/* A string field of at most max bytes. */
static int
get_str(struct json_object *v, const char *key, size_t max, const char **ret, size_t *ret_len,
    char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_string))
		return fail(err, errlen, "field '%s': expected a string", key);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n > max)
		return fail(err, errlen, "field '%s': longer than %zu bytes", key, max);
	*ret = json_object_get_string(v);
	*ret_len = n;
	return 0;
}

static int
get_hex(struct json_object *v, const char *key, uint8_t *out, uint8_t *ret_len, char *err,
    size_t errlen)
{
	const char *s = NULL;
	size_t n = 0, got;
	int r = get_str(v, key, 2 * ZT_WIRE_ID_MAX, &s, &n, err, errlen);

	if (r < 0)
		return r;
	if (zt_hex_decode(s, n, out, ZT_WIRE_ID_MAX, &got) < 0)
		return fail(err, errlen, "field '%s': '%s' is not hex", key, s);
	*ret_len = (uint8_t)got;
	return 0;
}

static int
copy_str(struct json_object *v, const char *key, char *dst, size_t max, char *err, size_t errlen)
{
	const char *s = NULL;
	size_t n = 0;
	int r = get_str(v, key, max, &s, &n, err, errlen);

	if (r < 0)
		return r;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* An enum field: one of names[] (value = index + base) or a raw integer wire value. */
static int
get_enum(struct json_object *v, const char *key, const char *const *names, size_t n, int base,
    int32_t *ret, char *err, size_t errlen)
{
	int64_t x;

	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		for (size_t i = 0; i < n; i++)
			if (strcmp(s, names[i]) == 0) {
				*ret = (int32_t)i + base;
				return 0;
			}
		return fail(err, errlen, "field '%s': unknown value '%s'", key, s);
	}
	if (!json_object_is_type(v, json_type_int))
		return fail(err, errlen, "field '%s': expected a string or an integer", key);
	int r = get_int(v, key, INT32_MIN, INT32_MAX, &x, err, errlen);
	if (r == 0)
		*ret = (int32_t)x;
	return r;
}

/* mode: "9610" / "MODE_9610" / 9610 map to the wire enum; other integers pass through raw. */
static int
get_mode(struct json_object *v, int32_t *ret, char *err, size_t errlen)
{
	static const char *const num[] = {"9610", "9710", "9810", "1210", "1239"};
	static const char *const name[] = {
	    "MODE_9610", "MODE_9710", "MODE_9810", "MODE_1210", "MODE_1239"};

	if (json_object_is_type(v, json_type_string) &&
	    get_enum(v, "mode", name, 5, 1, ret, err, errlen) == 0)
		return 0;
	int r = get_enum(v, "mode", num, 5, 1, ret, err, errlen);
	if (r == 0 && json_object_is_type(v, json_type_int)) {
		int64_t x = json_object_get_int64(v);
		int m = x >= 1000 && x <= 9999 ? zt_mode_from_number((unsigned)x) : -1;
		if (m > 0)
			*ret = m;
	}
	return r;
}

/* Reads n digits at *p, advancing it. */
static bool
num(const char **p, int n, int64_t *ret)
{
	int64_t v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return false;
		v = v * 10 + (**p - '0');
	}
	*ret = v;
	return true;
}

/* Parses the fraction and zone suffix of an RFC 3339 time: [.fff...](Z|+hh:mm|-hh:mm). */
static bool
rfc3339_suffix(const char *p, int64_t *ret_frac_ms, int64_t *ret_offset_ms)
{
	int64_t frac = 0, scale = 100, oh, om;

	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	*ret_frac_ms = frac;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*ret_offset_ms = 0;
		return true;
	}
	if (*p != '+' && *p != '-')
		return false;
	int sign = *p++ == '-' ? -1 : 1;
	if (!num(&p, 2, &oh) || *p++ != ':' || !num(&p, 2, &om) || *p != '\0' || oh > 23 || om > 59)
		return false;
	*ret_offset_ms = sign * (oh * 60 + om) * 60000;
	return true;
}

/* Parses "2022-11-11T16:30:00+08:00" (RFC 3339, 'T' or ' ') into unix ms. */
static bool
rfc3339(const char *s, int64_t *ret)
{
	const char *p = s;
	int64_t y, mo, d, h, mi, sec, frac, off;

	if (!num(&p, 4, &y) || *p++ != '-' || !num(&p, 2, &mo) || *p++ != '-' || !num(&p, 2, &d) ||
	    (*p != 'T' && *p != 't' && *p != ' '))
		return false;
	p++;
	if (!num(&p, 2, &h) || *p++ != ':' || !num(&p, 2, &mi) || *p++ != ':' ||
	    !num(&p, 2, &sec) || h > 23 || mi > 59 || sec > 60 || y < 1)
		return false;
	uint32_t date = (uint32_t)(y * 10000 + mo * 100 + d);
	if (!rfc3339_suffix(p, &frac, &off) || !zt_date_valid(date))
		return false;
	/* 00:00 CST is 16:00 UTC the day before: add the offset back to get 00:00 UTC. */
	*ret = zt_cst_day_start_ms(date) + ZT_CST_OFFSET_MS + ((h * 60 + mi) * 60 + sec) * 1000 +
	    frac - off;
	return true;
}

typedef int (*field_fn)(struct json_object *v, struct zt_wire *w, char *err, size_t errlen);

static int
f_event_id(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	w->has |= ZT_W_EVENT_ID;
	return get_hex(v, "event_id", w->id, &w->id_len, err, errlen);
}

static int
f_ref_id(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	w->has |= ZT_W_REF_ID;
	return get_hex(v, "ref_event_id", w->ref_id, &w->ref_len, err, errlen);
}

static int
f_list_no(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	w->has |= ZT_W_LIST_NO;
	return copy_str(v, "list_no", w->list_no, ZT_LIST_NO_MAX, err, errlen);
}

static int
f_ref_list_no(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	w->has |= ZT_W_REF_LIST_NO;
	return copy_str(v, "ref_list_no", w->ref_list_no, ZT_LIST_NO_MAX, err, errlen);
}

/* The original named twice. */
static int
check_ref(const struct zt_wire *w, char *err, size_t errlen)
{
	if ((w->has & ZT_W_REF_LIST_NO) && (w->has & ZT_W_REF_ID))
		return fail(err, errlen, "both 'ref_event_id' and 'ref_list_no'");
	return 0;
}

static int
f_publisher(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	w->has |= ZT_W_PUBLISHER;
	return copy_str(v, "publisher_id", w->publisher, ZT_WIRE_STR_MAX, err, errlen);
}

static int
f_hs_code(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	w->has |= ZT_W_HS_CODE;
	return copy_str(v, "hs_code", w->hs_code, ZT_WIRE_STR_MAX, err, errlen);
}

static int
f_sequence(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	int64_t x = 0;
	int r = get_int(v, "sequence", 0, INT64_MAX, &x, err, errlen);

	w->has |= ZT_W_SEQUENCE;
	w->sequence = (uint64_t)x;
	return r;
}

static int
f_zone(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	int64_t x = 0;
	int r = get_int(v, "zone_code", 0, UINT32_MAX, &x, err, errlen);

	w->has |= ZT_W_ZONE;
	w->zone = (uint32_t)x;
	return r;
}

static int
f_items(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	int64_t x = 0;
	int r = get_int(v, "item_count", 0, UINT32_MAX, &x, err, errlen);

	w->has |= ZT_W_ITEMS;
	w->items = (uint32_t)x;
	return r;
}

static int
f_value(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	w->has |= ZT_W_VALUE;
	return get_int(v, "value_fen", INT64_MIN, INT64_MAX, &w->value_fen, err, errlen);
}

static int
f_time_ms(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	if (w->has & ZT_W_TIME)
		return fail(err, errlen, "both 'declared_at' and 'declared_at_ms'");
	w->has |= ZT_W_TIME;
	return get_int(v, "declared_at_ms", INT64_MIN, INT64_MAX, &w->declared_at_ms, err, errlen);
}

static int
f_time(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	const char *s = NULL;
	size_t n = 0;
	int r = get_str(v, "declared_at", 64, &s, &n, err, errlen);

	if (r < 0)
		return r;
	if (w->has & ZT_W_TIME)
		return fail(err, errlen, "both 'declared_at' and 'declared_at_ms'");
	if (!rfc3339(s, &w->declared_at_ms))
		return fail(err, errlen, "field 'declared_at': '%s' is not an RFC 3339 time", s);
	w->has |= ZT_W_TIME;
	return 0;
}

static int
f_direction(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	static const char *const names[] = {"IMPORT", "EXPORT"};

	w->has |= ZT_W_DIRECTION;
	return get_enum(v, "direction", names, 2, 1, &w->direction, err, errlen);
}

static int
f_mode(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	w->has |= ZT_W_MODE;
	return get_mode(v, &w->mode, err, errlen);
}

static int
f_kind(struct json_object *v, struct zt_wire *w, char *err, size_t errlen)
{
	static const char *const names[] = {"DECLARATION", "CANCELLATION", "RETURN"};

	w->has |= ZT_W_KIND;
	return get_enum(v, "kind", names, 3, 0, &w->kind, err, errlen);
}

static const struct {
	const char *name;
	field_fn fn;
} fields[] = {
    {"event_id", f_event_id},
    {"list_no", f_list_no},
    {"publisher_id", f_publisher},
    {"sequence", f_sequence},
    {"zone_code", f_zone},
    {"direction", f_direction},
    {"mode", f_mode},
    {"value_fen", f_value},
    {"item_count", f_items},
    {"declared_at_ms", f_time_ms},
    {"declared_at", f_time},
    {"hs_code", f_hs_code},
    {"kind", f_kind},
    {"ref_event_id", f_ref_id},
    {"ref_list_no", f_ref_list_no},
};

/* Applies every member of a JSON object to w. */
static int
apply_fields(struct json_object *obj, struct zt_wire *w, char *err, size_t errlen)
{
	json_object_object_foreach(obj, key, val)
	{
		size_t i;
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcmp(key, fields[i].name) == 0)
				break;
		if (i == sizeof(fields) / sizeof(fields[0]))
			return fail(err, errlen, "unknown field '%s'", key);
		int r = fields[i].fn(val, w, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Returns the index of the first non-blank byte, or len. */
static size_t
skip_blank(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i;
}

/* True if the line holds nothing to send: blank, or a '#' comment. */
static bool
skippable(const char *line, size_t len)
{
	size_t i = skip_blank(line, len);

	return i == len || line[i] == '#';
}

int
zt_ndjson_parse(const char *line, size_t len, struct zt_wire *ret, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *obj;
	int r;

	if (skippable(line, len))
		return 0;
	if (len > INT_MAX)
		return fail(err, errlen, "line too long");
	if ((tok = json_tokener_new()) == NULL)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (obj == NULL || je != json_tokener_success) {
		json_object_put(obj);
		return fail(err, errlen, "not JSON: %s",
		    je == json_tokener_continue ? "unexpected end of line"
		                                : json_tokener_error_desc(je));
	}
	if (skip_blank(line + used, len - used) != len - used)
		r = fail(err, errlen, "not JSON: text after the object");
	else if (!json_object_is_type(obj, json_type_object))
		r = fail(err, errlen, "not a JSON object");
	else {
		struct zt_wire w = {0};
		if ((r = apply_fields(obj, &w, err, errlen)) == 0 &&
		    (r = check_ref(&w, err, errlen)) == 0) {
			*ret = w;
			r = 1;
		}
	}
	json_object_put(obj);
	return r;
}
