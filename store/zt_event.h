/*
 * zt_event.h: the validated trade event, the rejection reasons and the time helpers that the
 * daemon, the store and the clients share. No I/O, no allocation.
 */
#ifndef ZT_EVENT_H
#define ZT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_EVENT_ID_LEN  16
#define ZT_PUBLISHER_MAX 64 /* publisher_id: 1..64 of [A-Za-z0-9._-] */
#define ZT_HS_CODE_MAX   10 /* hs_code: 4..10 digits */
#define ZT_HS_CODE_MIN   4
#define ZT_CST_OFFSET_MS (8LL * 3600 * 1000) /* China Standard Time, UTC+8, no DST */
#define ZT_NATION_CODE   0u                  /* "000000" */

/* Values match the wire enums of proto/zonetally.proto so that no mapping table is needed. */
enum zt_direction {
	ZT_DIR_ALL = 0, /* in a totals key: import and export together */
	ZT_DIR_IMPORT = 1,
	ZT_DIR_EXPORT = 2,
	ZT_DIR__COUNT
};

enum zt_mode {
	ZT_MODE_ALL = 0, /* in a totals key: every mode together */
	ZT_MODE_9610 = 1,
	ZT_MODE_9710 = 2,
	ZT_MODE_9810 = 3,
	ZT_MODE_1210 = 4,
	ZT_MODE_1239 = 5,
	ZT_MODE__COUNT
};

enum zt_kind {
	ZT_KIND_DECLARATION = 0,
	ZT_KIND_CANCELLATION = 1,
	ZT_KIND_RETURN = 2,
	ZT_KIND__COUNT
};

/*
 * Why a message was not counted. Exactly one reason per rejected message. ZT_REJECT_NONE
 * means "accepted so far". The order is part of the store format (counters are stored by
 * index): append new reasons before ZT_REJECT__COUNT, never reorder.
 */
enum zt_reject {
	ZT_REJECT_NONE = 0,
	ZT_REJECT_FRAME_COUNT,       /* not exactly two frames (topic, payload) */
	ZT_REJECT_OVERSIZE,          /* payload above max_message_bytes */
	ZT_REJECT_UNDECODABLE,       /* protobuf-c could not unpack it */
	ZT_REJECT_TOPIC_MISMATCH,    /* topic is not "ev.<zone_code>" of the payload */
	ZT_REJECT_MISSING_FIELD,     /* a required field is absent */
	ZT_REJECT_BAD_EVENT_ID,      /* event_id (or ref_event_id) not exactly 16 bytes */
	ZT_REJECT_BAD_PUBLISHER,     /* publisher_id empty, too long or bad characters */
	ZT_REJECT_BAD_SEQUENCE,      /* sequence 0 */
	ZT_REJECT_UNKNOWN_ZONE,      /* zone_code not in the registry */
	ZT_REJECT_ZONE_NOT_VALID,    /* zone not approved yet, or revoked, at the event time */
	ZT_REJECT_BAD_DIRECTION,     /* direction unspecified or out of range */
	ZT_REJECT_BAD_MODE,          /* mode unspecified or out of range */
	ZT_REJECT_MODE_DIRECTION,    /* 9710/9810 import, or 1239 export */
	ZT_REJECT_BAD_HS_CODE,       /* hs_code present but not 4..10 digits */
	ZT_REJECT_NEGATIVE_VALUE,    /* value_fen < 0 */
	ZT_REJECT_VALUE_TOO_LARGE,   /* value_fen above max_value_fen */
	ZT_REJECT_BAD_KIND,          /* kind out of range, or ref_event_id on a declaration */
	ZT_REJECT_FUTURE_TIME,       /* declared_at_ms beyond now + future tolerance */
	ZT_REJECT_TOO_OLD,           /* declared_at_ms older than the dedup window */
	ZT_REJECT_REVERSAL_UNKNOWN,  /* reversal of an id never counted */
	ZT_REJECT_REVERSAL_TWICE,    /* the original was already reversed */
	ZT_REJECT_REVERSAL_MISMATCH, /* reversal's fields differ from the original's */
	ZT_REJECT_OVERFLOW,          /* a total would leave the int64 range */
	ZT_REJECT_BAD_UTF8,          /* a string field is not UTF-8, or holds NUL/control bytes */
	ZT_REJECT_TOO_EARLY,         /* declared_at_ms before 2015-01-01 CST (no zone existed) */
	/* CURVE on (issue 6): the sender's key may not publish for this zone, or was revoked */
	ZT_REJECT_UNAUTHORIZED_ZONE,
	/* CURVE on: the sender's key may not use this publisher_id */
	ZT_REJECT_UNAUTHORIZED_PUBLISHER,
	ZT_REJECT__COUNT
};

/* Returns the stable snake_case name of a reason ("unknown_zone"), "none", or "invalid". */
const char *zt_reject_name(int reason);

/* Returns the human sentence for a reason, for logs and `zonetally stats`. */
const char *zt_reject_text(int reason);

/*
 * A decoded, validated trade event: fixed size, no pointers, so it can be copied into a
 * batch and outlive the protobuf-c message it came from.
 */
struct zt_event {
	uint8_t id[ZT_EVENT_ID_LEN];
	uint8_t ref_id[ZT_EVENT_ID_LEN]; /* zero unless kind != DECLARATION */
	char publisher[ZT_PUBLISHER_MAX + 1];
	char hs_code[ZT_HS_CODE_MAX + 1]; /* "" when absent */
	uint8_t direction;                /* enum zt_direction, IMPORT or EXPORT */
	uint8_t mode;                     /* enum zt_mode, never ALL */
	uint8_t kind;                     /* enum zt_kind */
	uint32_t zone;
	uint32_t items;
	uint64_t sequence;
	int64_t value_fen;
	int64_t declared_at_ms;
};

/* Civil date helpers, all in China Standard Time. Buckets are numbers that sort by time:
 * day 20221111, month 202211, year 2022. */

/* Returns the CST day of a unix-ms time as YYYYMMDD. Valid for years 1..9999. */
uint32_t zt_cst_day(int64_t unix_ms);

/* Returns the unix-ms time of 00:00 CST on a YYYYMMDD day, or -1 if the date is invalid. */
int64_t zt_cst_day_start_ms(uint32_t yyyymmdd);

/* Returns true if yyyymmdd is a real calendar date (leap years included). */
bool zt_date_valid(uint32_t yyyymmdd);

/* Returns the year of an event time in CST. */
static inline uint32_t
zt_cst_year(int64_t unix_ms)
{
	return zt_cst_day(unix_ms) / 10000;
}

/* Returns the province code of a zone code: first two digits followed by 0000. */
static inline uint32_t
zt_province_of(uint32_t zone)
{
	return zone / 10000 * 10000;
}

/* Returns the 4-digit mode number (9610...) of an enum zt_mode, or 0 for ALL/invalid. */
unsigned zt_mode_number(int mode);

/* Returns the enum zt_mode of a 4-digit number, or -1 if it is not a customs mode. */
int zt_mode_from_number(unsigned number);

/* Returns true if the mode exists in that direction (9710/9810 export, 1239 import). */
bool zt_mode_allows(int mode, int direction);

#endif /* ZT_EVENT_H */
