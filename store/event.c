/*
 * event.c: the shared vocabulary of zt_event.h: rejection reason names and texts, China
 * Standard Time calendar arithmetic (proleptic Gregorian, no time zone database: CST has
 * had no DST since 1991 and events predate no zone) and customs mode helpers.
 */
#include "zt_event.h"

#define DAY_MS 86400000LL

static const struct {
	const char *name;
	const char *text;
} reasons[ZT_REJECT__COUNT] = {
    [ZT_REJECT_NONE] = {"none", "not rejected"},
    [ZT_REJECT_FRAME_COUNT] = {"frame_count", "message does not have exactly two frames"},
    [ZT_REJECT_OVERSIZE] = {"oversize", "payload larger than max_message_bytes"},
    [ZT_REJECT_UNDECODABLE] = {"undecodable", "payload is not a TradeEvent"},
    [ZT_REJECT_TOPIC_MISMATCH] = {"topic_mismatch", "topic is not ev.<zone_code> of the event"},
    [ZT_REJECT_MISSING_FIELD] = {"missing_field", "a required field is absent"},
    [ZT_REJECT_BAD_EVENT_ID] = {"bad_event_id", "event_id or ref_event_id is not 16 bytes"},
    [ZT_REJECT_BAD_PUBLISHER] = {"bad_publisher",
        "publisher_id is empty, too long or has bad characters"},
    [ZT_REJECT_BAD_SEQUENCE] = {"bad_sequence", "sequence is 0"},
    [ZT_REJECT_UNKNOWN_ZONE] = {"unknown_zone", "zone_code is not in the registry"},
    [ZT_REJECT_ZONE_NOT_VALID] = {"zone_not_valid",
        "zone not approved yet, or revoked, at the event time"},
    [ZT_REJECT_BAD_DIRECTION] = {"bad_direction", "direction unspecified or out of range"},
    [ZT_REJECT_BAD_MODE] = {"bad_mode", "mode unspecified or out of range"},
    [ZT_REJECT_MODE_DIRECTION] = {"mode_direction",
        "mode does not exist in that direction (9710/9810 export, 1239 import)"},
    [ZT_REJECT_BAD_HS_CODE] = {"bad_hs_code", "hs_code is not 4 to 10 digits"},
    [ZT_REJECT_NEGATIVE_VALUE] = {"negative_value", "value_fen is negative"},
    [ZT_REJECT_VALUE_TOO_LARGE] = {"value_too_large", "value_fen above max_value_fen"},
    [ZT_REJECT_BAD_KIND] = {"bad_kind", "kind out of range, or ref_event_id on a declaration"},
    [ZT_REJECT_FUTURE_TIME] = {"future_time",
        "declared_at_ms is beyond now plus the future tolerance"},
    [ZT_REJECT_TOO_OLD] = {"too_old", "declared_at_ms is older than the dedup window"},
    [ZT_REJECT_REVERSAL_UNKNOWN] = {"reversal_unknown",
        "reversal of an event_id that is not a counted declaration"},
    [ZT_REJECT_REVERSAL_TWICE] = {"reversal_twice", "the declaration was already reversed"},
    [ZT_REJECT_REVERSAL_MISMATCH] = {"reversal_mismatch",
        "reversal fields differ from the declaration's"},
    [ZT_REJECT_OVERFLOW] = {"overflow", "a total would leave the int64 range"},
    [ZT_REJECT_BAD_UTF8] = {"bad_utf8",
        "a string field is not valid UTF-8 or holds NUL or control characters"},
    [ZT_REJECT_TOO_EARLY] = {"too_early",
        "declared_at_ms before 2015-01-01 CST, when the first pilot zone opened"},
    [ZT_REJECT_UNAUTHORIZED_ZONE] = {"unauthorized_zone",
        "the sender's key is not authorised for this zone (or was revoked)"},
    [ZT_REJECT_UNAUTHORIZED_PUBLISHER] = {"unauthorized_publisher",
        "the sender's key may not use this publisher_id"},
};

const char *
zt_reject_name(int reason)
{
	if (reason < 0 || reason >= ZT_REJECT__COUNT)
		return "invalid";
	return reasons[reason].name;
}

const char *
zt_reject_text(int reason)
{
	if (reason < 0 || reason >= ZT_REJECT__COUNT)
		return "invalid reason";
	return reasons[reason].text;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse: the civil date of a day number. */
static void
civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*ret_d = doy - (153 * mp + 2) / 5 + 1;
	*ret_m = mp < 10 ? mp + 3 : mp - 9;
	*ret_y = (int64_t)yoe + era * 400 + (*ret_m <= 2);
}

uint32_t
zt_cst_day(int64_t unix_ms)
{
	/* floor division first, then the offset, so that no input can overflow */
	int64_t q = unix_ms / DAY_MS, r = unix_ms % DAY_MS;
	if (r < 0) {
		r += DAY_MS;
		q--;
	}
	if (r + ZT_CST_OFFSET_MS >= DAY_MS)
		q++;
	int64_t y;
	unsigned m, d;
	civil_from_days(q, &y, &m, &d);
	if (y < 1)
		return 10101;
	if (y > 9999)
		return 99991231;
	return (uint32_t)y * 10000 + m * 100 + d;
}

static unsigned
days_in_month(unsigned y, unsigned m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 29;
	return dim[m - 1];
}

bool
zt_date_valid(uint32_t yyyymmdd)
{
	unsigned y = yyyymmdd / 10000, m = yyyymmdd / 100 % 100, d = yyyymmdd % 100;
	if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= days_in_month(y, m);
}

int64_t
zt_cst_day_start_ms(uint32_t yyyymmdd)
{
	if (!zt_date_valid(yyyymmdd))
		return -1;
	int64_t days = days_from_civil(yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100);
	return days * DAY_MS - ZT_CST_OFFSET_MS;
}

static const unsigned mode_numbers[ZT_MODE__COUNT] = {
    [ZT_MODE_ALL] = 0,
    [ZT_MODE_9610] = 9610,
    [ZT_MODE_9710] = 9710,
    [ZT_MODE_9810] = 9810,
    [ZT_MODE_1210] = 1210,
    [ZT_MODE_1239] = 1239,
};

unsigned
zt_mode_number(int mode)
{
	if (mode <= ZT_MODE_ALL || mode >= ZT_MODE__COUNT)
		return 0;
	return mode_numbers[mode];
}

int
zt_mode_from_number(unsigned number)
{
	for (int m = ZT_MODE_9610; m < ZT_MODE__COUNT; m++)
		if (mode_numbers[m] == number)
			return m;
	return -1;
}

bool
zt_mode_allows(int mode, int direction)
{
	switch (mode) {
	case ZT_MODE_9610:
	case ZT_MODE_1210:
		return direction == ZT_DIR_IMPORT || direction == ZT_DIR_EXPORT;
	case ZT_MODE_9710:
	case ZT_MODE_9810:
		return direction == ZT_DIR_EXPORT;
	case ZT_MODE_1239:
		return direction == ZT_DIR_IMPORT;
	default:
		return false;
	}
}
