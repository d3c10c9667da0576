/*
 * format.c: the text and JSON shapes every `zonetally` command shares: money in yuan with
 * thousands separators, counts, display widths of UTF-8 names, totals as JSON, periods.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "zonetally.h"

/* Writes the decimal digits of v with a ',' every three, after a '-' if neg. */
static size_t
group(uint64_t v, bool neg, char *out)
{
	char rev[ZT_YUAN_LEN];
	size_t n = 0, len = 0;

	do {
		if (n > 0 && n % 3 == 0)
			rev[len++] = ',';
		rev[len++] = (char)('0' + v % 10);
		v /= 10;
		n++;
	} while (v > 0);
	size_t o = 0;
	if (neg)
		out[o++] = '-';
	while (len > 0)
		out[o++] = rev[--len];
	out[o] = '\0';
	return o;
}

/* Magnitude of a signed value, INT64_MIN included. */
static uint64_t
magnitude(int64_t v)
{
	return v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
}

size_t
zt_fmt_yuan(int64_t value_fen, char out[ZT_YUAN_LEN])
{
	uint64_t m = magnitude(value_fen);
	size_t n = group(m / 100, value_fen < 0, out);

	out[n++] = '.';
	out[n++] = (char)('0' + m % 100 / 10);
	out[n++] = (char)('0' + m % 10);
	out[n] = '\0';
	return n;
}

size_t
zt_fmt_count(int64_t v, char out[ZT_YUAN_LEN])
{
	return group(magnitude(v), v < 0, out);
}

size_t
zt_fmt_ucount(uint64_t v, char out[ZT_YUAN_LEN])
{
	return group(v, false, out);
}

/* East Asian Wide and Fullwidth ranges that CJK names and punctuation use. */
static bool
is_wide(uint32_t c)
{
	return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf && c != 0x303f) ||
	    (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
	    (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
	    (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x20000 && c <= 0x3fffd);
}

/* The code point at p and its byte length (a stray continuation byte counts alone). */
static uint32_t
next_cp(const unsigned char *p, size_t *ret_len)
{
	uint32_t c = *p;
	int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	size_t n = 1;

	if (more > 0)
		c &= 0x3fu >> more;
	for (; more > 0 && (p[n] & 0xc0) == 0x80; more--, n++)
		c = c << 6 | (p[n] & 0x3fu);
	*ret_len = n;
	return c;
}

size_t
zt_fmt_fit(const char *s, size_t width, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0, used = 0, len;

	if (outlen == 0)
		return 0;
	if (zt_fmt_width(s) <= width) {
		(void)snprintf(out, outlen, "%s", s);
		return zt_fmt_width(out);
	}
	/* room for the ellipsis (1 column, 3 bytes) */
	while (*p != '\0') {
		size_t cw = is_wide(next_cp(p, &len)) ? 2 : 1;
		if (w + cw + 1 > width || used + len + 4 > outlen)
			break;
		memcpy(out + used, p, len);
		used += len;
		w += cw;
		p += len;
	}
	if (width > 0 && used + 4 <= outlen) {
		memcpy(out + used, "\xe2\x80\xa6", 3); /* U+2026 HORIZONTAL ELLIPSIS */
		used += 3;
		w++;
	}
	out[used] = '\0';
	return w;
}

size_t
zt_fmt_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0, len;

	for (; *p != '\0'; p += len)
		w += is_wide(next_cp(p, &len)) ? 2 : 1;
	return w;
}

struct json_object *
zt_fmt_totals_json(const struct zt_totals *t)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	if (json_object_object_add(o, "events", json_object_new_int64(t->events)) < 0 ||
	    json_object_object_add(o, "value_fen", json_object_new_int64(t->value_fen)) < 0 ||
	    json_object_object_add(o, "items", json_object_new_int64(t->items)) < 0 ||
	    json_object_object_add(o, "reversals", json_object_new_int64(t->reversals)) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int
zt_fmt_add_modes_json(struct json_object *o, const struct zt_totals_block *b)
{
	struct json_object *modes = json_object_new_object();

	if (modes == NULL)
		return -ENOMEM;
	for (int m = ZT_MODE_9610; m < ZT_MODE__COUNT; m++) {
		char name[8];
		(void)snprintf(name, sizeof(name), "%u", zt_mode_number(m));
		struct json_object *d = zt_fmt_dirs_json(b, m);
		if (d == NULL || json_object_object_add(modes, name, d) < 0) {
			json_object_put(d);
			json_object_put(modes);
			return -ENOMEM;
		}
	}
	if (json_object_object_add(o, "by_mode", modes) < 0) {
		json_object_put(modes);
		return -ENOMEM;
	}
	return 0;
}

struct json_object *
zt_fmt_dirs_json(const struct zt_totals_block *b, int mode)
{
	static const char *const names[ZT_DIR__COUNT] = {"total", "import", "export"};
	static const int order[ZT_DIR__COUNT] = {ZT_DIR_IMPORT, ZT_DIR_EXPORT, ZT_DIR_ALL};
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < ZT_DIR__COUNT; i++) {
		int d = order[i];
		struct json_object *t = zt_fmt_totals_json(&b->t[d][mode]);
		if (t == NULL || json_object_object_add(o, names[d], t) < 0) {
			json_object_put(t);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

struct json_object *
zt_fmt_period_json(const struct zt_period *p)
{
	struct json_object *o = json_object_new_object();
	char buf[16];

	if (o == NULL)
		return NULL;
	if (zt_period_format(p, buf, sizeof(buf)) < 0 ||
	    json_object_object_add(
	        o, "granularity", json_object_new_string(zt_gran_name(p->gran))) < 0 ||
	    json_object_object_add(
	        o, "bucket", p->gran == ZT_GRAN_ALL ? NULL : json_object_new_string(buf)) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

const char *
zt_gran_name(int gran)
{
	switch (gran) {
	case ZT_GRAN_ALL:
		return "all";
	case ZT_GRAN_YEAR:
		return "year";
	case ZT_GRAN_MONTH:
		return "month";
	case ZT_GRAN_DAY:
		return "day";
	default:
		return "invalid";
	}
}

int
zt_period_format(const struct zt_period *p, char *buf, size_t len)
{
	uint32_t b = p->bucket;

	switch (p->gran) {
	case ZT_GRAN_ALL:
		return snprintf(buf, len, "%s", "");
	case ZT_GRAN_YEAR:
		return snprintf(buf, len, "%04u", b);
	case ZT_GRAN_MONTH:
		return snprintf(buf, len, "%04u-%02u", b / 100, b % 100);
	case ZT_GRAN_DAY:
		return snprintf(buf, len, "%04u-%02u-%02u", b / 10000, b / 100 % 100, b % 100);
	default:
		return -EINVAL;
	}
}

/* Reads exactly n digits at s into *ret. */
static bool
digits(const char *s, size_t n, uint32_t *ret)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

int
zt_period_parse(int gran, const char *text, struct zt_period *ret)
{
	static const size_t lens[ZT_GRAN__COUNT] = {0, 4, 7, 10};
	uint32_t y = 0, m = 1, d = 1;

	if (gran == ZT_GRAN_ALL) {
		if (text != NULL)
			return -EINVAL;
		*ret = (struct zt_period){.gran = ZT_GRAN_ALL, .bucket = 0};
		return 0;
	}
	if (gran < ZT_GRAN_YEAR || gran > ZT_GRAN_DAY || text == NULL ||
	    strlen(text) != lens[gran] || !digits(text, 4, &y))
		return -EINVAL;
	if (gran >= ZT_GRAN_MONTH && (text[4] != '-' || !digits(text + 5, 2, &m)))
		return -EINVAL;
	if (gran == ZT_GRAN_DAY && (text[7] != '-' || !digits(text + 8, 2, &d)))
		return -EINVAL;
	if (y < 1 || !zt_date_valid(y * 10000 + m * 100 + d))
		return -EINVAL;
	ret->gran = (uint8_t)gran;
	ret->bucket = gran == ZT_GRAN_YEAR ? y
	    : gran == ZT_GRAN_MONTH        ? y * 100 + m
	                                   : y * 10000 + m * 100 + d;
	return 0;
}

struct zt_period
zt_period_day_of(int64_t unix_ms)
{
	return (struct zt_period){.gran = ZT_GRAN_DAY, .bucket = zt_cst_day(unix_ms)};
}

static const char *const dir_names[ZT_DIR__COUNT] = {"total", "import", "export"};
static const int dir_order[ZT_DIR__COUNT] = {ZT_DIR_IMPORT, ZT_DIR_EXPORT, ZT_DIR_ALL};

int
zt_fmt_add_dirs_json(struct json_object *o, const struct zt_totals_block *b, unsigned mask)
{
	for (size_t i = 0; i < ZT_DIR__COUNT; i++) {
		int d = dir_order[i];
		if (!(mask & (1u << d)))
			continue;
		struct json_object *t = zt_fmt_totals_json(&b->t[d][ZT_MODE_ALL]);
		if (t == NULL || json_object_object_add(o, dir_names[d], t) < 0) {
			json_object_put(t);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Adds "key": "%06u" of code to o. */
static int
add_code(struct json_object *o, const char *key, uint32_t code)
{
	char text[16];

	(void)snprintf(text, sizeof(text), "%06u", code);
	return json_object_object_add(o, key, json_object_new_string(text));
}

struct json_object *
zt_fmt_block_json(const struct zt_target *t, const struct zt_period *p,
    const struct zt_totals_block *b, unsigned dir_mask)
{
	static const char *const level[ZT_LEVEL__COUNT] = {"nation", "province", "zone"};
	struct json_object *o = json_object_new_object();

	if (o == NULL || add_code(o, "code", t->code) < 0 ||
	    json_object_object_add(o, "level", json_object_new_string(level[t->level])) < 0 ||
	    json_object_object_add(o, "name_en", json_object_new_string(t->name_en)) < 0 ||
	    json_object_object_add(o, "name_zh", json_object_new_string(t->name_zh)) < 0 ||
	    json_object_object_add(o, "period", zt_fmt_period_json(p)) < 0 ||
	    zt_fmt_add_dirs_json(o, b, dir_mask) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *
zt_fmt_get_json(
    const struct zt_target *t, const struct zt_period *p, const struct zt_totals_block *b)
{
	struct json_object *o = zt_fmt_block_json(t, p, b, ZT_FMT_DIRS_ALL);

	if (o != NULL && zt_fmt_add_modes_json(o, b) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* One element of the "zones" array of top. */
static struct json_object *
ranked_json(size_t rank, const struct zt_ranked *r)
{
	struct json_object *z = json_object_new_object();

	if (z == NULL || json_object_object_add(z, "rank", json_object_new_uint64(rank)) < 0 ||
	    add_code(z, "code", r->z->code) < 0 ||
	    json_object_object_add(z, "name_en", json_object_new_string(r->z->city_en)) < 0 ||
	    json_object_object_add(z, "name_zh", json_object_new_string(r->z->city_zh)) < 0 ||
	    add_code(z, "province", r->z->province) < 0 ||
	    zt_fmt_add_dirs_json(z, &r->b, ZT_FMT_DIRS_ALL) < 0) {
		json_object_put(z);
		return NULL;
	}
	return z;
}

struct json_object *
zt_fmt_top_json(const struct zt_period *p, const char *by, const struct zt_ranked *v, size_t n)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();

	if (o == NULL || a == NULL ||
	    json_object_object_add(o, "period", zt_fmt_period_json(p)) < 0 ||
	    json_object_object_add(o, "by", json_object_new_string(by)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct json_object *z = ranked_json(i + 1, &v[i]);
		if (z == NULL || json_object_array_add(a, z) < 0) {
			json_object_put(z);
			goto fail;
		}
	}
	if (json_object_object_add(o, "zones", a) < 0)
		goto fail;
	return o;
fail:
	json_object_put(a);
	json_object_put(o);
	return NULL;
}
