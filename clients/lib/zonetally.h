/*
 * zonetally.h: the manual of libzonetally, the C library behind the `zonetally` CLI and the
 * `zonetally-pub` publisher tool. It has five parts:
 *   - zt_reader_*: read-only, in-process access to a daemon's store (no IPC, LMDB MVCC);
 *   - zt_period_*: the periods a total is kept for (day, month, year, all) and their text;
 *   - zt_eventid_*, zt_hex_*: the recommended time-ordered event ids and hex text;
 *   - zt_wire_*, zt_ndjson_*: an event as a publisher sends it (which may be invalid on
 *     purpose), parsed from an NDJSON line and packed into the two-frame wire message;
 *   - zt_gen_*: the synthetic generator of a plausible day of cross-border e-commerce;
 *   - zt_fmt_*: money in yuan, the JSON of totals, display widths of UTF-8 text.
 * Like the store, the library never logs: functions return >= 0 on success and a negative
 * errno or ZT_E_* code on failure (zt_strerror() describes both).
 */
#ifndef ZONETALLY_H
#define ZONETALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "store.h"
#include "zt_event.h"

/* ---------------------------------------------------------------------------------------- */
/* Periods                                                                                  */

/* One period a total is kept for: a granularity (enum zt_gran) and its bucket. */
struct zt_period {
	uint8_t gran;    /* enum zt_gran */
	uint32_t bucket; /* 0, YYYY, YYYYMM or YYYYMMDD */
};

/*
 * Parses the text of a period flag: "YYYY-MM-DD" (ZT_GRAN_DAY), "YYYY-MM" (ZT_GRAN_MONTH),
 * "YYYY" (ZT_GRAN_YEAR); for ZT_GRAN_ALL text must be NULL.
 * @param[in] gran the granularity the flag names
 * @param[out] ret the period, set on success only
 * @return 0; -EINVAL (wrong shape, not a real date, year outside 1..9999).
 */
int zt_period_parse(int gran, const char *text, struct zt_period *ret);

/* Returns the period of the CST day that contains unix_ms. */
struct zt_period zt_period_day_of(int64_t unix_ms);

/*
 * Writes the bucket as text: "2022-11-11", "2022-11", "2022", or "" for ZT_GRAN_ALL.
 * @return the length written (snprintf's), or -EINVAL for an unknown granularity.
 */
int zt_period_format(const struct zt_period *p, char *buf, size_t len);

/* Returns "day", "month", "year" or "all"; "invalid" for anything else. */
const char *zt_gran_name(int gran);

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                   */

struct zt_reader;

/*
 * Opens the store of a state directory (<state_dir>/store) read-only. The daemon may be
 * running: readers never block it.
 * @param[out] ret the reader, freed with zt_reader_free()
 * @return 0; ZT_E_NOSTORE (no store there); ZT_E_SCHEMA; -ENOMEM; -ENAMETOOLONG; ZT_E_MDB;
 *     a negative errno from the file system.
 */
int zt_reader_open(const char *state_dir, struct zt_reader **ret);

/* Closes the reader and frees it. Takes NULL. Returns NULL. */
struct zt_reader *zt_reader_free(struct zt_reader *r);

/*
 * Returns the underlying store for counters, publishers and sizes (store.h).
 * @note Borrowed: valid until zt_reader_free().
 */
struct zt_store *zt_reader_store(struct zt_reader *r);

/*
 * Starts a snapshot that every following read shares until zt_reader_end(), so that the
 * numbers of one report are consistent with each other. Reads outside work too.
 * @return 0; -EBUSY (already begun); ZT_E_MDB.
 */
int zt_reader_begin(struct zt_reader *r);

/* Ends the snapshot begun by zt_reader_begin(). */
void zt_reader_end(struct zt_reader *r);

/* What a code names once the level rule is applied. */
struct zt_target {
	uint8_t level;              /* enum zt_level */
	uint32_t code;              /* 0 for the nation */
	uint32_t province;          /* province of a zone or the province itself; 0 for nation */
	const struct zt_zone *zone; /* the registry entry at zone level, else NULL (borrowed) */
	const char *name_en;        /* borrowed, static or the registry's */
	const char *name_zh;
};

/*
 * Applies the level rule: 0 -> nation; a registry zone -> zone (so 460000 is the Hainan
 * zone) unless force_province; else a code ending in 0000 that names a province -> province.
 * @param[out] ret set on success only; its pointers are valid until zt_reader_free()
 * @return 0; -ENOENT (neither a zone nor a province; also for a zone with force_province
 *     whose code is not a province code).
 */
int zt_reader_resolve(
    const struct zt_reader *r, uint32_t code, bool force_province, struct zt_target *ret);

/*
 * Reads the 18 totals of one code and period (zeros where nothing was counted).
 * @return 0; ZT_E_CORRUPT; ZT_E_MDB.
 */
int zt_reader_get(struct zt_reader *r, int level, uint32_t code, const struct zt_period *p,
    struct zt_totals_block *ret);

/* Called for each stored day of a scan with that day's all-direction, all-mode total. */
typedef int (*zt_day_cb)(uint32_t yyyymmdd, const struct zt_totals *t, void *arg);

/*
 * Calls cb, in date order, for every day from..to (YYYYMMDD, inclusive) on which the code has
 * a stored total: one cursor walk.
 * @return 0; cb's non-zero value; ZT_E_CORRUPT; ZT_E_MDB.
 */
int zt_reader_days(struct zt_reader *r, int level, uint32_t code, uint32_t from, uint32_t to,
    zt_day_cb cb, void *arg);

/* Sets *ret to the registry (sorted by code, borrowed until free) and returns its length. */
size_t zt_reader_zones(const struct zt_reader *r, const struct zt_zone **ret);

/* ---------------------------------------------------------------------------------------- */
/* Event ids and hex                                                                        */

/*
 * Our 128-bit hash (two 64-bit lanes, multiply-xorshift mixing); stable across versions and
 * platforms because event ids derive from it.
 */
void zt_hash128(const void *buf, size_t len, uint64_t ret[2]);

/*
 * The recommended event id: the 48-bit big-endian declared_at_ms, then the first 80 bits of
 * zt_hash128(list_no), big-endian. Deterministic: a resend yields the same id.
 */
void zt_eventid_from_list_no(
    int64_t declared_at_ms, const char *list_no, size_t len, uint8_t ret[ZT_EVENT_ID_LEN]);

/*
 * A UUIDv7 (RFC 9562): 48-bit ms time, version 7, the variant bits 10, and 74 bits taken
 * from rnd (the bits that version and variant replace are dropped).
 */
void zt_eventid_uuidv7(int64_t unix_ms, const uint8_t rnd[10], uint8_t ret[ZT_EVENT_ID_LEN]);

/* Writes 2*len lowercase hex digits and a NUL to out (size >= 2*len+1). */
void zt_hex_encode(const uint8_t *buf, size_t len, char *out);

/*
 * Decodes hex text (either case) of any even length.
 * @param[out] out at least cap bytes
 * @param[out] ret_len bytes written, on success
 * @return 0; -EINVAL (odd length or a non-hex digit); -E2BIG (more than cap bytes).
 */
int zt_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t cap, size_t *ret_len);

/* ---------------------------------------------------------------------------------------- */
/* Wire events: what a publisher sends, valid or not                                        */

#define ZT_WIRE_ID_MAX  64   /* event_id / ref_event_id bytes a wire event can hold */
#define ZT_WIRE_STR_MAX 255  /* publisher_id / hs_code bytes a wire event can hold */
#define ZT_LIST_NO_MAX  64   /* list_no bytes */
#define ZT_TOPIC_LEN    13   /* "ev." + up to 10 digits (6 for a valid zone) */
#define ZT_WIRE_MSG_MAX 1024 /* a packed wire event is never larger than this */

/* Which fields of a wire event are present (absent fields are absent on the wire). */
enum zt_wire_field {
	ZT_W_EVENT_ID = 1u << 0,
	ZT_W_PUBLISHER = 1u << 1,
	ZT_W_SEQUENCE = 1u << 2,
	ZT_W_ZONE = 1u << 3,
	ZT_W_DIRECTION = 1u << 4,
	ZT_W_MODE = 1u << 5,
	ZT_W_VALUE = 1u << 6,
	ZT_W_ITEMS = 1u << 7,
	ZT_W_TIME = 1u << 8,
	ZT_W_HS_CODE = 1u << 9,
	ZT_W_KIND = 1u << 10,
	ZT_W_REF_ID = 1u << 11,
	ZT_W_LIST_NO = 1u << 12, /* not sent: only used to derive event_id */
};

/* An event as sent: raw wire enum values, any id length, optional fields. Fixed size. */
struct zt_wire {
	uint32_t has; /* enum zt_wire_field bits */
	uint8_t id_len, ref_len;
	uint8_t id[ZT_WIRE_ID_MAX];
	uint8_t ref_id[ZT_WIRE_ID_MAX];
	char publisher[ZT_WIRE_STR_MAX + 1];
	char hs_code[ZT_WIRE_STR_MAX + 1];
	char list_no[ZT_LIST_NO_MAX + 1];
	int32_t direction; /* wire enum value, may be out of range */
	int32_t mode;      /* wire enum value (1..5 valid), may be out of range */
	int32_t kind;      /* wire enum value */
	uint32_t zone;
	uint32_t items;
	uint64_t sequence;
	int64_t value_fen;
	int64_t declared_at_ms;
};

/*
 * Parses one NDJSON line (see the common brief for the fields). Blank lines and lines whose
 * first non-blank character is '#' yield 0 and leave *ret untouched.
 * @param[in] line the text (need not be NUL-terminated), len bytes
 * @param[out] ret the event, on a return of 1
 * @param[out] err on -EINVAL, the reason ("not JSON: ...", "field 'zone_code': expected an
 *     integer", ...), NUL-terminated, truncated to errlen
 * @return 1 an event; 0 nothing on this line; -EINVAL malformed; -ENOMEM.
 * @note event_id, publisher_id and sequence are not filled in when absent: see
 *     zt_wire_complete().
 */
int zt_ndjson_parse(const char *line, size_t len, struct zt_wire *ret, char *err, size_t errlen);

/*
 * Fills what a line may leave out: event_id (derived from list_no and the time, or a UUIDv7
 * with rnd), publisher_id (publisher) and sequence (*next_seq, then incremented). A line that
 * carries its own sequence leaves *next_seq alone.
 */
void zt_wire_complete(
    struct zt_wire *w, const char *publisher, uint64_t *next_seq, const uint8_t rnd[10]);

/* Writes the topic "ev.%06u" of the event's zone (0 if absent); out has ZT_TOPIC_LEN + 1. */
void zt_wire_topic(const struct zt_wire *w, char out[ZT_TOPIC_LEN + 1]);

/*
 * Packs a wire event as a TradeEvent with protobuf-c.
 * @param[out] buf at least ZT_WIRE_MSG_MAX bytes
 * @return the packed length (> 0, <= ZT_WIRE_MSG_MAX).
 */
size_t zt_wire_pack(const struct zt_wire *w, uint8_t *buf);

/* ---------------------------------------------------------------------------------------- */
/* Generator                                                                                */

struct zt_gen_opts {
	uint64_t count;        /* messages to produce, resends included */
	uint64_t seed;         /* PRNG seed: same seed, same events */
	uint32_t day;          /* YYYYMMDD (CST) the events are spread over */
	double dup_ratio;      /* fraction of messages that resend an earlier one, 0..1 */
	double kind_mix;       /* fraction of events that reverse an earlier declaration, 0..1 */
	bool random_ids;       /* 16 random bytes instead of derived ids */
	const char *publisher; /* publisher_id of every event (borrowed for the gen's life) */
	uint64_t start_seq;    /* sequence of the first event */
};

struct zt_gen;

/*
 * Creates a generator over the zones valid in the day's year.
 * @param[in] zones the registry (borrowed for the generator's life)
 * @return 0; -EINVAL (bad day or ratios, empty publisher, no zone valid that year); -ENOMEM.
 */
int zt_gen_new(
    const struct zt_gen_opts *o, const struct zt_zone *zones, size_t nzones, struct zt_gen **ret);

/* Frees a generator. Takes NULL. Returns NULL. */
struct zt_gen *zt_gen_free(struct zt_gen *g);

/*
 * Produces the next message in send order.
 * @param[out] ret the event (a resend repeats an earlier one exactly, sequence included)
 * @param[out] ret_resend true if it is a resend (may be NULL)
 * @return 1 produced; 0 the count is reached.
 */
int zt_gen_next(struct zt_gen *g, struct zt_wire *ret, bool *ret_resend);

/* ---------------------------------------------------------------------------------------- */
/* Formatting                                                                               */

#define ZT_YUAN_LEN 32 /* enough for INT64_MIN fen in yuan with separators */

/* Writes value_fen as yuan: "1,234,567.89", "-0.05". @return the length. */
size_t zt_fmt_yuan(int64_t value_fen, char out[ZT_YUAN_LEN]);

/* Writes an integer with thousands separators: "12,345". @return the length. */
size_t zt_fmt_count(int64_t v, char out[ZT_YUAN_LEN]);

/* Returns the display width of UTF-8 text: 2 columns for CJK and fullwidth, else 1. */
size_t zt_fmt_width(const char *utf8);

/*
 * Returns a new JSON object {"events":N,"value_fen":N,"items":N,"reversals":N}, or NULL.
 * @note The caller owns it (json_object_put).
 */
struct json_object *zt_fmt_totals_json(const struct zt_totals *t);

/* Returns a new {"import":..,"export":..,"total":..} object of one mode's column, or NULL. */
struct json_object *zt_fmt_dirs_json(const struct zt_totals_block *b, int mode);

/* Returns a new {"granularity":"day","bucket":"2022-11-11"|null} object, or NULL. */
struct json_object *zt_fmt_period_json(const struct zt_period *p);

/* ---------------------------------------------------------------------------------------- */
/* CURVE client (issue 6)                                                                   */

/*
 * Makes a ZeroMQ socket a CURVE client of a zonetallyd whose sockets are CURVE servers.
 * Call before zmq_connect(). Key files are those of `zonetally keygen` (zt_keyfile.h).
 * @param[in] sock any socket type that connects to the daemon (PUB/XPUB, DEALER, SUB, REQ)
 * @param[in] server_key the daemon's public key: 40 Z85 characters, or a file holding
 *     "public-key = ..." (its NAME.pub)
 * @param[in] client_key_file this client's NAME.key (mode 0600: refused if group/others
 *     may read it); its NAME.pub must be in the daemon's allowlist
 * @param[out] err on failure, what and why (NUL-terminated)
 * @return 0; -EPERM (key file open to others); -EINVAL (malformed key or file); -ENOTSUP
 *     (libzmq without CURVE); another negative errno from the files or zmq_setsockopt.
 * @note The keys are copied into the socket; nothing is kept.
 */
int zt_curve_client(
    void *sock, const char *server_key, const char *client_key_file, char *err, size_t errlen);

#endif /* ZONETALLY_H */
