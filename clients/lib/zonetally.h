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
 * @note A reader never holds a snapshot between calls: each read outside
 *     zt_reader_begin()/zt_reader_end() starts its read transaction and resets it before
 *     returning, so an idle reader, however long it stays open, pins nothing. Between
 *     zt_reader_begin() and zt_reader_end() it holds one snapshot, and LMDB cannot reuse a
 *     page the daemon frees meanwhile: the store file grows for as long as that lasts. End
 *     a snapshot as soon as its report is read; the daemon reports the oldest one in
 *     /metrics and warns in its log past [store] reader_warn_s.
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
 * numbers of one report are consistent with each other. Reads outside work too. Keep it
 * short (one report): while it is held, pages the daemon frees cannot be reused.
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
 * The level rule for a code whose registry entry (or NULL) the caller looked up in its own
 * registry (a store's, or the union of remote shards'): see zt_reader_resolve().
 * @param[out] ret set on success only; its pointers borrow z and static names
 * @return 0; -ENOENT.
 */
int zt_target_of(
    const struct zt_zone *z, uint32_t code, bool force_province, struct zt_target *ret);

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

/*
 * Reads one total: a single LMDB key lookup, the fastest read there is (a few hundred ns).
 * Inside zt_reader_begin()/zt_reader_end() the read transaction is reused; outside, each
 * call renews and resets the reader's one cached transaction (no allocation either way).
 * @param[in] level enum zt_level; code 0 for the nation
 * @param[in] direction enum zt_direction (ZT_DIR_ALL for both); mode enum zt_mode (ZT_MODE_ALL)
 * @param[out] ret the total; zeros if nothing was counted there
 * @return 1 found; 0 nothing counted (ret zeroed); ZT_E_CORRUPT; ZT_E_MDB.
 * @note A map grown by the daemon is adopted on the next transaction (MDB_MAP_RESIZED).
 *     One thread at a time per reader; open one reader per thread.
 */
int zt_reader_total(struct zt_reader *r, int level, uint32_t code, const struct zt_period *p,
    int direction, int mode, struct zt_totals *ret);

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
	ZT_W_LIST_NO = 1u << 12,     /* not sent: only used to derive event_id */
	ZT_W_REF_LIST_NO = 1u << 13, /* not sent: derives ref_event_id */
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
	/* a reversal's original by its list number: zt_wire_complete() derives ref_id from it
	 * and declared_at_ms (a reversal carries its original's time) as the original's
	 * event_id was derived */
	char ref_list_no[ZT_LIST_NO_MAX + 1];
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
 * with rnd), ref_event_id (derived the same way from ref_list_no and the time),
 * publisher_id (publisher) and sequence (*next_seq, then incremented). A line that carries
 * its own sequence leaves *next_seq alone.
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
	int64_t until_ms;      /* unix ms: when inside the day, events stop before it (today:
	                        * now, so that none lies in the future); 0: the whole day */
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

/* How many of the messages produced so far were resends (the daemon's duplicates). */
uint64_t zt_gen_resends(const struct zt_gen *g);

/* ---------------------------------------------------------------------------------------- */
/* Formatting                                                                               */

#define ZT_YUAN_LEN 32 /* enough for INT64_MIN fen in yuan with separators */

/* Writes value_fen as yuan: "1,234,567.89", "-0.05". @return the length. */
size_t zt_fmt_yuan(int64_t value_fen, char out[ZT_YUAN_LEN]);

/* Writes an integer with thousands separators: "12,345". @return the length. */
size_t zt_fmt_count(int64_t v, char out[ZT_YUAN_LEN]);

/* zt_fmt_count() for an unsigned counter, exact up to UINT64_MAX. @return the length. */
size_t zt_fmt_ucount(uint64_t v, char out[ZT_YUAN_LEN]);

/* Returns the display width of UTF-8 text: 2 columns for CJK and fullwidth, else 1. */
size_t zt_fmt_width(const char *utf8);

/*
 * Copies utf8 into out, cut to at most width terminal columns with a trailing "…" when it
 * is wider, never inside a UTF-8 sequence, so that a long name cannot break a column.
 * @return the columns out takes.
 */
size_t zt_fmt_fit(const char *utf8, size_t width, char *out, size_t outlen);

/*
 * Returns a new JSON object {"events":N,"value_fen":N,"items":N,"reversals":N}, or NULL.
 * @note The caller owns it (json_object_put).
 */
struct json_object *zt_fmt_totals_json(const struct zt_totals *t);

/* Returns a new {"import":..,"export":..,"total":..} object of one mode's column, or NULL. */
struct json_object *zt_fmt_dirs_json(const struct zt_totals_block *b, int mode);

/* Adds "by_mode": {"9610": dirs, ...} to o. @return 0 or -ENOMEM (o unchanged). */
int zt_fmt_add_modes_json(struct json_object *o, const struct zt_totals_block *b);

/* Returns a new {"granularity":"day","bucket":"2022-11-11"|null} object, or NULL. */
struct json_object *zt_fmt_period_json(const struct zt_period *p);

/* Which direction columns zt_fmt_block_json() writes (bits of 1 << enum zt_direction). */
#define ZT_FMT_DIRS_ALL 0x7u

/* Adds "import", "export", "total" (those in dir_mask) of the all-modes column to o.
 * @return 0 or -ENOMEM (o may hold the first ones). */
int zt_fmt_add_dirs_json(struct json_object *o, const struct zt_totals_block *b, unsigned dir_mask);

/*
 * Returns a new object of one code's period: {"code","level","name_en","name_zh","period",
 * "import","export","total"} (the all-modes columns), the shape of `get --json` without
 * "by_mode"; only the directions in dir_mask are written. NULL when out of memory.
 * @note The caller owns it (json_object_put); t and p are only read.
 */
struct json_object *zt_fmt_block_json(const struct zt_target *t, const struct zt_period *p,
    const struct zt_totals_block *b, unsigned dir_mask);

/* Returns the `get --json` object: zt_fmt_block_json() with every direction and "by_mode". */
struct json_object *zt_fmt_get_json(
    const struct zt_target *t, const struct zt_period *p, const struct zt_totals_block *b);

/* One zone of a ranking, as `top` shows it. */
struct zt_ranked {
	const struct zt_zone *z; /* borrowed from a registry */
	struct zt_totals_block b;
};

/*
 * Returns the `top --json` object: {"period","by","zones":[{"rank","code","name_en",
 * "name_zh","province","import","export","total"}...]} of v[0..n) in order, or NULL.
 * @param[in] by "import", "export" or "total": what the ranking is by
 */
struct json_object *zt_fmt_top_json(
    const struct zt_period *p, const char *by, const struct zt_ranked *v, size_t n);

/* ---------------------------------------------------------------------------------------- */
/* Publisher: the acknowledged path (zonetallyd's ROUTER socket, default port 7602)          */

/*
 * A DEALER connection that sends events and keeps each one until the daemon acknowledges
 * it (IngestAck.through_sequence, sent only after the commit). Events not acknowledged
 * within resend_ms of the last progress are all sent again, from through_sequence + 1 (the
 * daemon counts a resend once: dedup). With a spool directory every event is appended to
 * a file before it is sent, so that a publisher process that crashes resumes: the next
 * zt_publisher_new() on the same directory loads the unacknowledged events and resends them.
 * The spool survives a crash of the process, not of the machine (it is not fsynced).
 * Threads: one struct zt_pubconn per thread. Never logs.
 */
struct zt_pubconn;

struct zt_publisher_opts {
	uint32_t window;       /* events sent and not yet acknowledged, at most (0: 10000) */
	uint32_t batch_max;    /* events per EventBatch message (0: 256, at most 1024) */
	uint32_t resend_ms;    /* resend everything unacknowledged after this long (0: 1000) */
	const char *spool_dir; /* NULL: no spool (borrowed for the call) */
	/* CURVE (both or neither; borrowed for the call): as zt_curve_client() takes them */
	const char *curve_server_key; /* the daemon's public key, Z85 or its NAME.pub */
	const char *curve_key;        /* this publisher's NAME.key */
};

struct zt_publisher_stats {
	uint64_t queued;   /* events given to zt_publisher_send() (and loaded from the spool) */
	uint64_t sent;     /* event transmissions, resends included */
	uint64_t resent;   /* of which resends */
	uint64_t acked;    /* events covered by an acknowledgement */
	uint64_t rejected; /* of which the daemon rejected (see by_reason) */
	uint64_t by_reason[ZT_REJECT__COUNT];
	uint64_t through; /* the publisher's acknowledged mark */
};

/*
 * Connects to the daemon's ROUTER endpoint (the connection is made in the background and
 * re-made after a daemon restart).
 * @param[in] endpoint e.g. "tcp://127.0.0.1:7602" (copied)
 * @param[in] publisher_id the publisher_id of every event sent (copied)
 * @param[in] o options, NULL for the defaults
 * @param[out] ret the connection, freed with zt_publisher_free()
 * @return 0; -ENOMEM; -EINVAL (bad option or endpoint, only one of the CURVE keys); what
 *     zt_curve_client() returns for bad CURVE keys; a negative errno from the spool.
 */
int zt_publisher_new(const char *endpoint, const char *publisher_id,
    const struct zt_publisher_opts *o, struct zt_pubconn **ret);

/* Closes the socket without waiting, closes the spool (kept on disk), frees. Takes NULL. */
struct zt_pubconn *zt_publisher_free(struct zt_pubconn *pc);

/*
 * Returns the highest sequence already in the spool (sent or about to be, by an earlier
 * process): a resuming publisher continues with the next one. 0 without a spool.
 */
uint64_t zt_publisher_resume_seq(const struct zt_pubconn *pc);

/*
 * Queues one encoded TradeEvent (its publisher_id must be this connection's) and sends it
 * when the socket takes it. Sequences must increase from call to call.
 * @return 0; -EAGAIN if the window is full (call zt_publisher_poll() and retry); -EINVAL
 *     (sequence not above the previous one; empty, oversize or undecodable event; an event
 *     whose publisher_id or sequence is not this connection's and `seq`: the daemon could
 *     never acknowledge it); -ENOMEM; a negative errno from the spool.
 * @note The bytes are copied.
 */
int zt_publisher_send(struct zt_pubconn *pc, uint64_t seq, const void *event, size_t len);

/*
 * Sends what is queued, reads acknowledgements (waiting up to timeout_ms for the first)
 * and resends when the resend timeout passed without progress.
 * @return the number of events newly acknowledged (>= 0), or a negative errno.
 */
int zt_publisher_poll(struct zt_pubconn *pc, int timeout_ms);

/* Returns the number of events queued and not yet acknowledged. */
size_t zt_publisher_unacked(const struct zt_pubconn *pc);

/* Returns the milliseconds since the last acknowledgement progress, 0 if nothing waits. */
int64_t zt_publisher_stalled_ms(const struct zt_pubconn *pc);

/*
 * Whether the daemon refused or broke this connection's handshake (see
 * zt_curve_watch_failed(); final: the caller is giving up anyway). Call it while nothing is
 * acknowledged, to say why instead of a timeout.
 * @return 1 with err set, or 0.
 */
int zt_publisher_handshake_failed(struct zt_pubconn *pc, bool final, char *err, size_t errlen);

/*
 * Polls until every queued event is acknowledged, or until timeout_ms pass without any
 * progress. @return 0; -ETIMEDOUT (zt_publisher_unacked() tells how many are left);
 *     -ECONNREFUSED as soon as the handshake failed (zt_publisher_handshake_failed() says why).
 */
int zt_publisher_flush(struct zt_pubconn *pc, int timeout_ms);

/*
 * Returns the q-quantile (q in 0..1, e.g. 0.99) of the acknowledgement latency of every
 * event acknowledged so far [µs]: from zt_publisher_send() taking the event (or the spool
 * loading it) to the zt_publisher_poll() that read its acknowledgement. Within 1/32 of
 * the true value (a log-linear histogram); 0 before the first acknowledgement.
 */
uint64_t zt_publisher_ack_latency_us(const struct zt_pubconn *pc, double q);

/* Copies the counters. */
void zt_publisher_get_stats(const struct zt_pubconn *pc, struct zt_publisher_stats *ret);
/* ---------------------------------------------------------------------------------------- */
/* Rejection details                                                                        */

/* What the validator compared an event with, for zt_reject_detail(); zeros: unknown. */
struct zt_reject_ctx {
	int64_t watermark_ms;        /* too_old: the watermark the event was judged against */
	uint32_t dedup_window_days;  /* too_old */
	int64_t now_ms;              /* future_time: the wall clock of the judgement */
	int64_t future_tolerance_ms; /* future_time */
	int64_t max_value_fen;       /* value_too_large, negative_value */
	/* zone_not_valid: the registry entry of a code, or NULL */
	const struct zt_zone *(*zone)(void *arg, uint32_t code);
	void *zone_arg;
};

/*
 * What exactly was wrong with a rejected message, derived from its payload: the missing
 * fields' names, the bad value (zone code, direction, mode, hs_code, value, publisher_id),
 * the event time with the bound it broke (watermark and window for too_old, now and the
 * tolerance for future_time), the zone's validity, or the ids of a reversal.
 * @param[in] raw, kept_len the payload as kept (NULL/0: none); raw_len its original length
 *     (a truncated copy, kept_len < raw_len, gives no detail)
 * @param[in] ctx may be NULL: the bounds are then left out
 * @param[out] buf NUL-terminated, "" when there is nothing to add (frame_count, bad_utf8,
 *     overflow, duplicate, a payload that no longer decodes)
 * @return strlen(buf).
 */
size_t zt_reject_detail(int reason, const void *raw, size_t raw_len, size_t kept_len,
    const struct zt_reject_ctx *ctx, char *buf, size_t len);

#define ZT_REJECT_DETAIL_LEN 256 /* every detail fits (names and values are bounded) */

/* ---------------------------------------------------------------------------------------- */
/* Query: a daemon's query socket (remote reads)                                            */

#define ZT_E_REMOTE (ZT_E_BASE - 40) /* the daemon answered with an error: zt_query_error() */

struct zt_query;

/* One block of totals as a daemon answers it: a code, its level and a period. */
struct zt_qblock {
	uint8_t level; /* enum zt_level */
	uint32_t code;
	struct zt_period period;
	struct zt_totals_block b; /* zeros where nothing was counted */
};

/*
 * Connects to a daemon's query socket ("tcp://host:7604"). Connecting never fails for a
 * daemon that is down: the first request then times out, and ZeroMQ reconnects by itself.
 * @param[in] timeout_ms how long each request waits for its answer (<= 0: 5000)
 * @param[out] ret the handle, freed with zt_query_free()
 * @return 0; -ENOMEM; a negative errno of zmq_connect() (e.g. -EINVAL: bad endpoint).
 */
int zt_query_new(const char *endpoint, int timeout_ms, struct zt_query **ret);

/* A reader's CURVE keys, for a daemon whose query and feed sockets are CURVE servers. */
struct zt_curve_keys {
	const char *server_key; /* the daemon's public key: Z85, or its NAME.pub file */
	const char *client_key; /* this reader's NAME.key, listed in authorized_readers.d */
};

/*
 * zt_query_new() over CURVE when curve is not NULL (as zt_curve_client() takes the keys).
 * @return as zt_query_new(); what zt_curve_client() returns for bad keys.
 */
int zt_query_new_curve(
    const char *endpoint, int timeout_ms, const struct zt_curve_keys *curve, struct zt_query **ret);

/* Closes the handle and frees it. Takes NULL. Returns NULL. */
struct zt_query *zt_query_free(struct zt_query *q);

/*
 * The text of the last error (ZT_E_REMOTE's reason, the timeout, or, when a request
 * returned -ECONNREFUSED, the failed handshake and which key option to check). Every
 * zt_query_* request returns -ECONNREFUSED as soon as the daemon refuses the handshake
 * (zt_curve_watch_failed()), instead of waiting out its timeout. Borrowed.
 */
const char *zt_query_error(const struct zt_query *q);

/* The endpoint this handle connects to. Borrowed. */
const char *zt_query_endpoint(const struct zt_query *q);

/* The daemon's feed endpoint, as its last answer said ("" before any). Borrowed. */
const char *zt_query_feed_endpoint(const struct zt_query *q);

/*
 * Reads one code's 18 totals of a period, like zt_reader_get().
 * @param[out] ret_feed_seq the commit the answer reflects (may be NULL)
 * @return 0; -ETIMEDOUT (no answer in time); ZT_E_REMOTE; ZT_E_CORRUPT (bad answer);
 *     a negative errno of the socket.
 */
int zt_query_get(struct zt_query *q, int level, uint32_t code, const struct zt_period *p,
    struct zt_totals_block *ret, uint64_t *ret_feed_seq);

/*
 * The zones with anything counted in the period, ranked by value in by_direction (enum
 * zt_direction), larger first, then more events, then the smaller code; at most limit.
 * @param[out] ret array of *ret_n blocks, caller frees with free()
 * @return as zt_query_get(); -ENOMEM.
 */
int zt_query_top(struct zt_query *q, const struct zt_period *p, int by_direction, uint32_t limit,
    struct zt_qblock **ret, size_t *ret_n);

/* Every province's block of the period, then the nation's (caller frees *ret). */
int zt_query_provinces(
    struct zt_query *q, const struct zt_period *p, struct zt_qblock **ret, size_t *ret_n);

/* The daemon's zone registry, sorted by code (caller frees *ret). */
int zt_query_zones(struct zt_query *q, struct zt_zone **ret, size_t *ret_n);

/* The daemon's counters (feed_seq, rejects_kept, rejects_dropped included) and store sizes. */
int zt_query_stats(
    struct zt_query *q, struct zt_counters *ret, uint64_t *ret_map_bytes, uint64_t *ret_used_bytes);

/*
 * zt_query_stats() and the daemon's publishers (the first 4096 in id order), read in the
 * same transaction. Daemons older than the publisher list answer none.
 * @param[out] ret_pubs caller frees; set only on success, like every ret_*
 * @return 0; -ENOMEM; -ETIMEDOUT; ZT_E_REMOTE; ZT_E_CORRUPT.
 */
int zt_query_stats_publishers(struct zt_query *q, struct zt_counters *ret, uint64_t *ret_map_bytes,
    uint64_t *ret_used_bytes, struct zt_publisher **ret_pubs, size_t *ret_n_pubs);

/* What a snapshot returns: read in one LMDB read transaction on the daemon. */
struct zt_snapshot {
	uint64_t feed_seq;        /* the commit the blocks reflect */
	uint64_t epoch;           /* the daemon's run */
	struct zt_qblock *blocks; /* current day, month, year and all-time of each code */
	size_t n_blocks;
	struct {
		uint32_t code;
		uint64_t seq; /* updates published on tot.<code> so far in this epoch */
	} * topics;
	size_t n_topics;
};

/*
 * Takes a snapshot of every code whose 6-digit text starts with prefix ("" for all).
 * @param[out] ret filled on success; release with zt_snapshot_done()
 * @return as zt_query_get(); -ENOMEM.
 */
int zt_query_snapshot(struct zt_query *q, const char *prefix, struct zt_snapshot *ret);

/* Frees what a snapshot holds and zeroes it. */
void zt_snapshot_done(struct zt_snapshot *s);

/* Decodes a wire TotalsBlock (a Zonetally__V1__TotalsBlock *). @return 0 or ZT_E_CORRUPT. */
int zt_qblock_decode(const void *wire_block, struct zt_qblock *ret);

/* ---------------------------------------------------------------------------------------- */
/* Watch: the live view of one or more daemons, joinable late, never a gap                  */

#define ZT_WATCH_MAX_SHARDS 16

struct zt_watch;

struct zt_watch_opts {
	const char *const *endpoints; /* query endpoints, one per daemon (shard) */
	size_t n_endpoints;           /* 1..ZT_WATCH_MAX_SHARDS */
	const char *const *prefixes;  /* code prefixes to follow ("33", "330100"); none: all */
	size_t n_prefixes;
	int rcvhwm;                        /* feed receive high-water mark; 0: ZeroMQ's default */
	int timeout_ms;                    /* of each snapshot request; <= 0: 5000 */
	const struct zt_curve_keys *curve; /* NULL: plaintext; else query and feed over CURVE */
};

enum zt_watch_kind {
	ZT_WATCH_SNAPSHOT = 0, /* a block as (re)loaded from a snapshot */
	ZT_WATCH_UPDATE,       /* a block changed by a commit */
	ZT_WATCH_HEARTBEAT,    /* a shard's heartbeat found the view complete (block NULL) */
};

struct zt_watch_event {
	int kind; /* enum zt_watch_kind */
	size_t shard;
	uint64_t feed_seq;             /* of that shard: the commit the view now reflects */
	const struct zt_qblock *block; /* merged over shards; valid during the callback only */
};

/* Called for every applied change; a non-zero return stops zt_watch_poll() with it. */
typedef int (*zt_watch_cb)(const struct zt_watch_event *ev, void *arg);

struct zt_watch_stats {
	uint64_t snapshots; /* taken, first ones included */
	uint64_t resyncs;   /* snapshots taken because a loss or a restart was seen */
	uint64_t updates;   /* applied */
	uint64_t skipped;   /* already in the snapshot */
	uint64_t malformed; /* feed messages that did not decode */
};

/*
 * Connects to each daemon: asks its query socket where its feed is, subscribes (one topic
 * per prefix, then the heartbeat). The first snapshot is taken at the first heartbeat.
 * @param[out] ret the watcher, freed with zt_watch_free()
 * @return 0; -EINVAL (no or too many endpoints, a prefix that is not 0-6 digits);
 *     -ENOMEM; -ETIMEDOUT or ZT_E_REMOTE (a daemon did not answer); a -errno of ZeroMQ.
 */
int zt_watch_new(const struct zt_watch_opts *o, struct zt_watch **ret);

/* Closes every socket and frees the watcher. Takes NULL. Returns NULL. */
struct zt_watch *zt_watch_free(struct zt_watch *w);

/*
 * Waits up to timeout_ms for feed messages and handles those waiting: snapshots, updates,
 * re-snapshots on a loss; calls cb (may be NULL) for each.
 * @return 0; cb's non-zero value; -ENOMEM; a -errno of ZeroMQ. A daemon that does not
 *     answer a snapshot is not an error: the shard waits for its next heartbeat.
 * @note Not thread-safe; one thread per watcher.
 */
int zt_watch_poll(struct zt_watch *w, int timeout_ms, zt_watch_cb cb, void *arg);

/* The merged (summed over shards) block of a key. @return 0; -ENOENT (not in the view). */
int zt_watch_get(struct zt_watch *w, int level, uint32_t code, const struct zt_period *p,
    struct zt_totals_block *ret);

/* Calls cb once for every block in the view (merged), kind ZT_WATCH_SNAPSHOT. */
int zt_watch_each(struct zt_watch *w, zt_watch_cb cb, void *arg);

/* True once every shard holds a snapshot and no loss is pending. */
bool zt_watch_synced(const struct zt_watch *w);

void zt_watch_get_stats(const struct zt_watch *w, struct zt_watch_stats *ret);

/* How far the view can be trusted, worst first when shards differ (ordered by severity). */
enum zt_watch_state {
	ZT_WATCH_LIVE = 0, /* every shard synced, heartbeats on time */
	ZT_WATCH_SYNCING,  /* a shard waits for a heartbeat to take its snapshot */
	ZT_WATCH_STALE,    /* a shard missed ZT_WATCH_STALE_PERIODS heartbeats */
	ZT_WATCH_OFFLINE,  /* a shard missed ZT_WATCH_OFFLINE_PERIODS: its daemon is gone */
};
#define ZT_WATCH_STALE_PERIODS   3
#define ZT_WATCH_OFFLINE_PERIODS 10

/*
 * The watcher's state now (enum zt_watch_state), the worst over its shards. A shard's
 * heartbeat period is learnt from the intervals between its heartbeats (the longest of the
 * last 4; 1000 ms, the daemon's default, before two); its silence counts from the last
 * heartbeat, or from zt_watch_new() before the first. Call it after zt_watch_poll(), which
 * returns at least every timeout_ms even when nothing arrives.
 * @param[out] ret_silence_ms may be NULL: the longest silence of the shards in that state
 */
int zt_watch_state(const struct zt_watch *w, int64_t *ret_silence_ms);

/* "live", "syncing", "stale" or "offline": the state's name (static). */
const char *zt_watch_state_name(int state);
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

/*
 * Watches a client socket's handshakes (a ZeroMQ socket monitor), so that a refused or
 * broken handshake is told as such instead of looking like a network timeout.
 */
struct zt_curve_watch;

/*
 * Starts watching; call before zmq_connect(). curve: whether sock is a CURVE client (it
 * changes the advice given).
 * @param[in] ctx the context of sock (the monitor's PAIR socket lives there)
 * @param[out] ret freed with zt_curve_watch_free() before sock is closed
 * @return 0; -ENOMEM; a -errno of zmq_socket_monitor().
 */
int zt_curve_watch_new(void *ctx, void *sock, bool curve, struct zt_curve_watch **ret);

/* Stops the monitor and frees the watch. Takes NULL. Returns NULL. */
struct zt_curve_watch *zt_curve_watch_free(struct zt_curve_watch *w);

/*
 * Whether a handshake failed since the last one that succeeded: ZAP refused the key
 * (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH), a protocol error (wrong mechanism, e.g. plaintext to a
 * CURVE daemon) or, with final (the caller gives up anyway), a CURVE connection the daemon
 * closed before the handshake ended (a wrong --curve-server-key: the daemon cannot read the
 * HELLO and says nothing). Never blocks.
 * @param[out] err what happened and which option to check, when 1 is returned
 * @return 1 (failed) or 0.
 */
int zt_curve_watch_failed(struct zt_curve_watch *w, bool final, char *err, size_t errlen);

#endif /* ZONETALLY_H */
