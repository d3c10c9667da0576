/*
 * rejdetail.c: zt_reject_detail(), what exactly was wrong with one rejected message (the
 * missing field's name, the bad value, the zone, the event time and the watermark), derived
 * by decoding the kept payload again. One function for the daemon's log and acknowledgements
 * and for `zonetally rejects`, so that the three say the same thing; the rejects DB keeps
 * only the bytes and the reason, and needs no new layout for it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "zonetally.h"
#include "zonetally.pb-c.h"

typedef Zonetally__V1__TradeEvent TradeEvent;

static const char *const mode_names[] = {"unspecified", "9610", "9710", "9810", "1210", "1239"};
static const char *const dir_names[] = {"unspecified", "IMPORT", "EXPORT"};

/*
 * "1700000000000 (2023-11-15 06:13:20 CST)"; a time outside years 1..9999 CST (a hostile
 * INT64_MAX, say) is printed without a date, and nothing here can overflow.
 */
static void
time_text(int64_t ms, char *buf, size_t len)
{
	const int64_t day_ms = 86400000;
	int64_t first = zt_cst_day_start_ms(10101), last = zt_cst_day_start_ms(99991231);

	if (ms < first || ms - day_ms >= last) {
		(void)snprintf(buf, len, "%" PRId64 " (outside years 1 to 9999)", ms);
		return;
	}
	uint32_t day = zt_cst_day(ms);
	int64_t r = ms % day_ms;
	if (r < 0)
		r += day_ms; /* floor, for times before 1970 */
	int64_t sod = (r + ZT_CST_OFFSET_MS) % day_ms / 1000;
	(void)snprintf(buf, len, "%" PRId64 " (%04u-%02u-%02u %02d:%02d:%02d CST)", ms, day / 10000,
	    day / 100 % 100, day % 100, (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
}

/* The names of the required fields m lacks, comma-separated. */
static void
missing_fields(const TradeEvent *m, char *buf, size_t len)
{
	const struct {
		bool present;
		const char *name;
	} f[] = {
	    {m->has_event_id, "event_id"},
	    {m->publisher_id != NULL, "publisher_id"},
	    {m->has_sequence, "sequence"},
	    {m->has_zone_code, "zone_code"},
	    {m->has_direction, "direction"},
	    {m->has_mode, "mode"},
	    {m->has_value_fen, "value_fen"},
	    {m->has_item_count, "item_count"},
	    {m->has_declared_at_ms, "declared_at_ms"},
	};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!f[i].present && n < len) {
			int w = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", f[i].name);
			n += w > 0 ? (size_t)w : 0;
		}
}

static const char *
mode_name(uint32_t mode)
{
	return mode < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[mode] : "?";
}

static const char *
dir_name(uint32_t dir)
{
	return dir < sizeof(dir_names) / sizeof(dir_names[0]) ? dir_names[dir] : "?";
}

/* The zone's validity, for zone_not_valid. */
static void
validity(const TradeEvent *m, const struct zt_reject_ctx *c, char *buf, size_t len)
{
	const struct zt_zone *z =
	    c != NULL && c->zone != NULL ? c->zone(c->zone_arg, m->zone_code) : NULL;
	char t[64];

	time_text(m->declared_at_ms, t, sizeof(t));
	if (z == NULL)
		(void)snprintf(buf, len, "zone_code %06u at declared_at_ms %s", m->zone_code, t);
	else if (z->revoked_year != 0)
		(void)snprintf(buf, len,
		    "zone %06u (%s) is valid from %u until the end of %u; declared_at_ms %s",
		    z->code, z->city_en, z->approved_year, z->revoked_year - 1u, t);
	else
		(void)snprintf(buf, len, "zone %06u (%s) is valid from %u; declared_at_ms %s",
		    z->code, z->city_en, z->approved_year, t);
}

/* too_old and future_time: the event time against the bound the daemon applied. */
static void
time_bound(int reason, const TradeEvent *m, const struct zt_reject_ctx *c, char *buf, size_t len)
{
	char t[64], b[64];

	time_text(m->declared_at_ms, t, sizeof(t));
	if (reason == ZT_REJECT_TOO_OLD && c != NULL && c->watermark_ms != 0) {
		time_text(c->watermark_ms, b, sizeof(b));
		(void)snprintf(buf, len,
		    "declared_at_ms %s is more than dedup_window_days %u before the watermark %s",
		    t, c->dedup_window_days, b);
	} else if (reason == ZT_REJECT_FUTURE_TIME && c != NULL && c->now_ms != 0) {
		time_text(c->now_ms, b, sizeof(b));
		(void)snprintf(buf, len,
		    "declared_at_ms %s is more than future_tolerance_s %" PRId64 " after now %s", t,
		    c->future_tolerance_ms / 1000, b);
	} else {
		(void)snprintf(buf, len, "declared_at_ms %s", t);
	}
}

static void
hex16(const ProtobufCBinaryData *id, char out[33])
{
	if (id->len == ZT_EVENT_ID_LEN)
		zt_hex_encode(id->data, id->len, out);
	else
		(void)snprintf(out, 33, "?");
}

/* The detail of a reason that decoded m says something about; false: nothing to add. */
static bool
from_event(int reason, const TradeEvent *m, const struct zt_reject_ctx *c, char *buf, size_t len)
{
	char ref[33], id[33];

	switch (reason) {
	case ZT_REJECT_MISSING_FIELD:
		missing_fields(m, buf, len);
		return true;
	case ZT_REJECT_BAD_EVENT_ID:
		(void)snprintf(buf, len, "event_id is %zu bytes%s", m->event_id.len,
		    m->has_ref_event_id && m->ref_event_id.len != ZT_EVENT_ID_LEN
		        ? ", ref_event_id is not 16"
		        : "");
		return true;
	case ZT_REJECT_BAD_PUBLISHER:
		(void)snprintf(buf, len,
		    "publisher_id '%.64s' (%zu bytes; 1..64 of [A-Za-z0-9._-])",
		    m->publisher_id != NULL ? m->publisher_id : "",
		    m->publisher_id != NULL ? strlen(m->publisher_id) : 0);
		return true;
	case ZT_REJECT_TOPIC_MISMATCH:
	case ZT_REJECT_UNKNOWN_ZONE:
	case ZT_REJECT_UNAUTHORIZED_ZONE:
		(void)snprintf(buf, len, "zone_code %u", m->zone_code);
		return true;
	case ZT_REJECT_ZONE_NOT_VALID:
		validity(m, c, buf, len);
		return true;
	case ZT_REJECT_TOO_EARLY:
	case ZT_REJECT_FUTURE_TIME:
	case ZT_REJECT_TOO_OLD:
		time_bound(reason, m, c, buf, len);
		return true;
	case ZT_REJECT_BAD_DIRECTION:
		(void)snprintf(buf, len, "direction %d", (int)m->direction);
		return true;
	case ZT_REJECT_BAD_MODE:
		(void)snprintf(buf, len, "mode %d", (int)m->mode);
		return true;
	case ZT_REJECT_MODE_DIRECTION:
		(void)snprintf(buf, len, "mode %s with direction %s", mode_name(m->mode),
		    dir_name(m->direction));
		return true;
	case ZT_REJECT_BAD_HS_CODE:
		(void)snprintf(buf, len, "hs_code '%.32s'", m->hs_code != NULL ? m->hs_code : "");
		return true;
	case ZT_REJECT_NEGATIVE_VALUE:
	case ZT_REJECT_VALUE_TOO_LARGE:
		if (c != NULL && c->max_value_fen > 0)
			(void)snprintf(buf, len, "value_fen %" PRId64 " (allowed 0..%" PRId64 ")",
			    m->value_fen, c->max_value_fen);
		else
			(void)snprintf(buf, len, "value_fen %" PRId64, m->value_fen);
		return true;
	case ZT_REJECT_BAD_KIND:
		(void)snprintf(buf, len, "kind %d %s ref_event_id", m->has_kind ? (int)m->kind : 0,
		    m->has_ref_event_id ? "with" : "without");
		return true;
	case ZT_REJECT_UNAUTHORIZED_PUBLISHER:
		(void)snprintf(buf, len, "publisher_id '%.64s'",
		    m->publisher_id != NULL ? m->publisher_id : "");
		return true;
	case ZT_REJECT_REVERSAL_UNKNOWN:
	case ZT_REJECT_REVERSAL_TWICE:
	case ZT_REJECT_REVERSAL_MISMATCH:
		hex16(&m->ref_event_id, ref);
		hex16(&m->event_id, id);
		(void)snprintf(buf, len, "event_id %s reverses ref_event_id %s", id, ref);
		return true;
	default:
		return false;
	}
}

size_t
zt_reject_detail(int reason, const void *raw, size_t raw_len, size_t kept_len,
    const struct zt_reject_ctx *ctx, char *buf, size_t len)
{
	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (reason == ZT_REJECT_OVERSIZE || reason == ZT_REJECT_UNDECODABLE ||
	    reason == ZT_REJECT_FRAME_COUNT) {
		if (reason != ZT_REJECT_FRAME_COUNT)
			(void)snprintf(buf, len, "payload of %zu bytes", raw_len);
		return strlen(buf);
	}
	/* a truncated copy would not decode, or would decode into something else */
	if (raw == NULL || kept_len == 0 || kept_len != raw_len || reason == ZT_REJECT_BAD_UTF8)
		return 0;
	TradeEvent *m = zonetally__v1__trade_event__unpack(NULL, kept_len, raw);
	if (m == NULL)
		return 0;
	if (!from_event(reason, m, ctx, buf, len))
		buf[0] = '\0';
	zonetally__v1__trade_event__free_unpacked(m, NULL);
	return strlen(buf);
}
