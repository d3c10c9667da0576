/*
 * store.h: the manual of zonetally's LMDB store. The store keeps the zone registry, the
 * running totals, the dedup records, the per-publisher state, the counters and a bounded
 * list of rejected messages in one LMDB environment. It knows no sockets and never logs:
 * every function returns 0 (or a documented positive value) on success and a negative errno
 * or ZT_E_* code on failure, and the caller logs once with context.
 *
 * Threads: a struct zt_store is used by one thread at a time. The daemon opens it
 * read-write; monitoring readers in other processes open the same directory with
 * ZT_STORE_RDONLY and read concurrently (LMDB MVCC: readers never block the writer).
 */
#ifndef ZT_STORE_H
#define ZT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zt_event.h"

/* Version of the on-disk layout; a store of another version is refused (ZT_E_SCHEMA). */
#define ZT_SCHEMA_VERSION 1

/* Project error codes sit below -4095 so they never collide with a negative errno. */
#define ZT_E_BASE    (-30000)
#define ZT_E_SCHEMA  (ZT_E_BASE - 1) /* store has another schema version */
#define ZT_E_CORRUPT (ZT_E_BASE - 2) /* a record has an impossible size or content */
#define ZT_E_MDB     (ZT_E_BASE - 3) /* an LMDB error with no errno equivalent */
#define ZT_E_NOSTORE (ZT_E_BASE - 4) /* read-only open of a directory with no store */
#define ZT_E_CSV     (ZT_E_BASE - 5) /* malformed zone registry CSV */

/* Returns a static description of a negative errno or ZT_E_* code. */
const char *zt_strerror(int err);

/* ---------------------------------------------------------------------------------------- */
/* Open and close                                                                           */

#define ZT_STORE_RDONLY 0x1u /* open an existing store for reading only */
#define ZT_STORE_NOSYNC 0x2u /* commits are not fsynced: scratch stores (fuzzing) only */

/* Opaque handle of an open store. */
struct zt_store;

/*
 * Opens (read-write: creates) the store in directory `dir` (the LMDB environment files
 * data.mdb and lock.mdb live there; the directory must exist).
 * @param[in] dir path of the store directory, e.g. "<state_dir>/store"
 * @param[in] flags 0, ZT_STORE_RDONLY, or ZT_STORE_NOSYNC (a crash may lose or corrupt the
 *     store: never for real data)
 * @param[in] map_size initial map size in bytes (0: 1 GiB); the writer grows it when full
 * @param[out] ret the store, owned by the caller, freed with zt_store_free()
 * @return 0; -ENOMEM; ZT_E_NOSTORE (read-only, nothing there); ZT_E_SCHEMA (other version);
 *     a negative errno from the file system; ZT_E_MDB.
 * @note Read-write open also clears stale reader slots (mdb_reader_check).
 */
int zt_store_open(const char *dir, unsigned flags, size_t map_size, struct zt_store **ret);

/* Closes the store and frees it. Takes NULL. Returns NULL. */
struct zt_store *zt_store_free(struct zt_store *s);

/*
 * Clears the reader slots of processes that died while reading (mdb_reader_check): a stale
 * slot pins old pages, so the file grows without bound. Call it periodically.
 * @param[out] ret_cleared number of slots cleared (may be NULL)
 * @return 0 or ZT_E_MDB.
 */
int zt_store_reader_check(struct zt_store *s, int *ret_cleared);

/* Returns the current map size in bytes and the bytes in use (for stats and metrics). */
int zt_store_size(struct zt_store *s, uint64_t *ret_map_bytes, uint64_t *ret_used_bytes);

/* ---------------------------------------------------------------------------------------- */
/* Zone registry                                                                            */

enum zt_name_check {
	ZT_NAME_READ = 0,   /* the name was read in a published list */
	ZT_NAME_INDIRECT,   /* supported by other official texts */
	ZT_NAME_UNVERIFIED, /* consistent with the approval, not read in a source */
};

struct zt_zone {
	uint32_t code;          /* 6-digit division code */
	uint32_t province;      /* code of its province-level division */
	uint16_t approved_year; /* first year (CST) events are valid */
	uint16_t revoked_year;  /* 0, or the year from which events are invalid */
	uint8_t batch;          /* State Council approval batch, 1..8 */
	uint8_t name_check;     /* enum zt_name_check */
	char city_en[48];
	char city_zh[48]; /* UTF-8 */
	char province_en[48];
};

/*
 * Parses the registry CSV (header line, then code,city_en,city_zh,province_en,batch,
 * approved_year,revoked_year,name_check), in memory.
 * @param[out] ret array sorted by code, caller frees with free()
 * @param[out] ret_line on ZT_E_CSV, the 1-based line of the first error (may be NULL)
 * @return number of zones (>0); ZT_E_CSV (bad field, duplicate code, no rows); -ENOMEM.
 */
int zt_registry_parse(const char *buf, size_t len, struct zt_zone **ret, size_t *ret_line);

/* As zt_registry_parse() on a file; also returns a negative errno if it cannot be read. */
int zt_registry_load_file(const char *path, struct zt_zone **ret, size_t *ret_line);

/*
 * Replaces the registry in the store with `zones` (sorted by code) in one durable
 * transaction. Totals are untouched.
 * @return 0; -EROFS on a read-only store; -ENOMEM; ZT_E_MDB.
 */
int zt_store_put_zones(struct zt_store *s, const struct zt_zone *zones, size_t n);

/*
 * Returns the zone with that code, or NULL. The registry is read into memory at open and by
 * zt_store_put_zones(); the pointer is borrowed and valid until either is called again or
 * the store is freed.
 */
const struct zt_zone *zt_store_zone(const struct zt_store *s, uint32_t code);

/* Sets *ret to the registry array (sorted by code, borrowed as above); returns its length. */
size_t zt_store_zones(const struct zt_store *s, const struct zt_zone **ret);

/* Returns true if events of CST year `year` may be counted for the zone. */
bool zt_zone_valid_in(const struct zt_zone *z, uint32_t year);

/* Returns the English or Chinese name of a province-level code (110000...), or NULL. */
const char *zt_province_name(uint32_t province, bool chinese);

/* ---------------------------------------------------------------------------------------- */
/* Totals keys                                                                              */

enum zt_level {
	ZT_LEVEL_NATION = 0,
	ZT_LEVEL_PROVINCE = 1,
	ZT_LEVEL_ZONE = 2,
	ZT_LEVEL__COUNT
};

enum zt_gran {
	ZT_GRAN_ALL = 0,   /* bucket 0 */
	ZT_GRAN_YEAR = 1,  /* bucket YYYY */
	ZT_GRAN_MONTH = 2, /* bucket YYYYMM */
	ZT_GRAN_DAY = 3,   /* bucket YYYYMMDD */
	ZT_GRAN__COUNT
};

/*
 * One total's coordinates. Encoded as 12 big-endian bytes, in this order, so that keys sort
 * by level, code, granularity, bucket, direction, mode: the 18 totals of one code and period
 * are adjacent, and one code's days are one cursor walk.
 */
struct zt_tkey {
	uint8_t level;     /* enum zt_level */
	uint32_t code;     /* 0 for the nation */
	uint8_t gran;      /* enum zt_gran */
	uint32_t bucket;   /* 0, YYYY, YYYYMM or YYYYMMDD */
	uint8_t direction; /* enum zt_direction, ALL included */
	uint8_t mode;      /* enum zt_mode, ALL included */
};

#define ZT_TKEY_LEN 12

void zt_tkey_encode(const struct zt_tkey *k, uint8_t out[ZT_TKEY_LEN]);

/* Returns 0, or ZT_E_CORRUPT if len != ZT_TKEY_LEN or a field is out of range. */
int zt_tkey_decode(const void *buf, size_t len, struct zt_tkey *ret);

/* Returns the bucket of an event time at a granularity. */
uint32_t zt_bucket_of(int gran, int64_t unix_ms);

/* Exact integer totals; value in RMB fen. A total nobody touched reads as all zeros. */
struct zt_totals {
	int64_t events;    /* declarations net of reversals */
	int64_t value_fen; /* net of reversals */
	int64_t items;     /* net of reversals */
	int64_t reversals; /* cancellations and returns applied */
};

/* The 18 totals of one code and period: [direction][mode], ALL included. */
struct zt_totals_block {
	struct zt_totals t[ZT_DIR__COUNT][ZT_MODE__COUNT];
};

/* ---------------------------------------------------------------------------------------- */
/* Writing: one batch, one durable transaction                                              */

enum zt_outcome {
	ZT_OUT_ACCEPTED = 0,
	ZT_OUT_DUPLICATE = 1, /* event_id already counted: nothing changed */
	ZT_OUT_REJECTED = 2,  /* see reason */
};

/* One received message, as the daemon hands it to zt_store_apply(). */
struct zt_entry {
	struct zt_event ev; /* in: meaningful when reason_in == ZT_REJECT_NONE */
	uint16_t reason_in; /* in: the validator's verdict, ZT_REJECT_NONE or a reason */
	bool has_seq;       /* in: ev.publisher and ev.sequence are valid, even if rejected */
	uint32_t raw_len;   /* in: length of raw */
	const void *raw;    /* in: the payload, borrowed for the call, for the rejects DB */
	uint8_t outcome;    /* out: enum zt_outcome */
	uint16_t reason;    /* out: the final reason when outcome == ZT_OUT_REJECTED */
	/* in, when has_seq: the publisher's through_sequence becomes at least this once the
	 * batch commits (0: unchanged). The caller computes it (daemon/acktrack.c). */
	uint64_t through_in;
	/* out, when has_seq: the number of sequences this one jumped over (a gap of
	 * [sequence - seq_gap, sequence - 1]), ZT_SEQ_REGRESSION when the publisher restarted
	 * from 1, else 0 */
	uint64_t seq_gap;
};

#define ZT_SEQ_REGRESSION UINT64_MAX

struct zt_apply_opts {
	int64_t now_ms;              /* wall clock, for the future bound */
	int64_t future_tolerance_ms; /* events later than now + this are rejected */
	uint32_t dedup_window_days;  /* events older than watermark - this are rejected */
	uint32_t rejects_max;        /* the rejects DB keeps at most this many, newest */
	uint32_t prune_max;          /* dedup records pruned per transaction, at most */
};

struct zt_apply_result {
	uint32_t accepted;
	uint32_t duplicates;
	uint32_t rejected;
	uint32_t totals_written; /* distinct totals keys written (after coalescing) */
	uint32_t pruned;         /* expired dedup records deleted */
	uint64_t feed_seq;       /* sequence number of this commit, stored with it */
	int64_t watermark_ms;    /* newest accepted event time after the commit */
	/* steps of the work the batch does on its own entries: finding an id or a reversal's
	 * original among them, probing and visiting the slots of its publishers, cells and
	 * totals in their tables. O(n log n) in the batch size n for every shape of batch,
	 * whatever earlier batches grew, which tests assert without a clock */
	uint64_t batch_steps;
};

/*
 * Applies a batch in one write transaction and commits it durably (fsync). For every entry,
 * in order: publisher sequence tracking (when has_seq); then if reason_in is set, the
 * message is counted as rejected and recorded in the rejects DB; else the time window is
 * checked (future tolerance, dedup window from the event-time watermark, dedup horizon:
 * see zt_store_dedup_horizon()), the event_id is looked up in the dedup DB (and in the
 * batch itself), a reversal is matched with its original, overflow is checked, and the
 * event's deltas are added to every total it touches (3 levels x 4 granularities x its
 * direction and ALL x its mode and ALL), coalesced in memory so that each total is written
 * once per transaction. A reversal whose original
 * is not counted yet but comes later in the same batch is applied after the rest of the
 * batch (a restart can reorder a publisher's messages). Counters, publisher state,
 * dedup records, the watermark and feed_seq are written in the same transaction, and so
 * are the pruning of expired dedup records and the horizon it raises.
 * On MDB_MAP_FULL the transaction is aborted, the map doubled and the batch re-applied.
 * @param[in,out] e entries; outcome and reason are set on success only
 * @param[out] ret summary of the commit (may be NULL)
 * @return 0 when committed; -EROFS; -ENOMEM; -ENOSPC (map cannot grow, or the disk is
 *     full: a short write with less than 1 MiB left on the store's filesystem); -EIO;
 *     ZT_E_MDB. On error nothing was committed and the batch may be applied again.
 */
int zt_store_apply(struct zt_store *s, struct zt_entry *e, size_t n,
    const struct zt_apply_opts *opts, struct zt_apply_result *ret);

/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                  */

/*
 * Starts a read snapshot that the following reads share (one LMDB read transaction, reused
 * with mdb_txn_reset/renew so that starting one costs no allocation). Reads outside a
 * snapshot take their own short one. Nested begins are an error (-EBUSY).
 * @return 0; -EBUSY; ZT_E_MDB.
 */
int zt_store_read_begin(struct zt_store *s);

/* Ends the snapshot begun by zt_store_read_begin(). Values read stay valid (they are copies). */
void zt_store_read_end(struct zt_store *s);

/*
 * Reads one total: a single key lookup.
 * @param[out] ret the total (zeros if nobody touched it)
 * @return 1 found; 0 absent (ret zeroed); ZT_E_CORRUPT; ZT_E_MDB.
 */
int zt_store_get(struct zt_store *s, const struct zt_tkey *k, struct zt_totals *ret);

/*
 * Reads the 18 totals of one code and period (k->direction and k->mode are ignored) with one
 * cursor walk over adjacent keys.
 * @return number of totals found (0..18); ZT_E_CORRUPT; ZT_E_MDB.
 */
int zt_store_get_block(struct zt_store *s, const struct zt_tkey *k, struct zt_totals_block *ret);

/* Called for each total in a scan; a non-zero return stops the scan and is returned. */
typedef int (*zt_totals_cb)(const struct zt_tkey *k, const struct zt_totals *t, void *arg);

/*
 * Calls cb for every stored total with from <= key <= to, in key order.
 * @return 0; the callback's non-zero value; ZT_E_CORRUPT; ZT_E_MDB.
 */
int zt_store_scan(struct zt_store *s, const struct zt_tkey *from, const struct zt_tkey *to,
    zt_totals_cb cb, void *arg);

/* Everything counted since the store was created, persisted with every commit. */
struct zt_counters {
	uint64_t received; /* messages handed to zt_store_apply() */
	uint64_t accepted;
	uint64_t duplicates;
	uint64_t rejected;
	uint64_t by_reason[ZT_REJECT__COUNT];
	uint64_t commits;
	uint64_t feed_seq;
	int64_t watermark_ms; /* newest accepted event time, 0 if none */
	uint64_t dedup_records;
	uint64_t rejects_kept;    /* rejected messages in the rejects DB now */
	uint64_t rejects_dropped; /* oldest ones dropped to keep it under rejects_max */
};

/* @return 0; ZT_E_CORRUPT; ZT_E_MDB. */
int zt_store_counters(struct zt_store *s, struct zt_counters *ret);

/*
 * Reads the dedup horizon: the first CST day (YYYYMMDD) whose dedup records are all still
 * stored. zt_store_apply() rejects events of earlier days as ZT_REJECT_TOO_OLD whatever
 * dedup_window_days says, because their records may have been pruned (by this window or
 * an earlier, narrower one); it only moves forward. A store written before the horizon was
 * recorded reads as the horizon derived from its dedup_age DB (see store/horizon.c).
 * @param[out] ret_day the horizon; 0 when no dedup record was ever pruned
 * @return 0; ZT_E_CORRUPT; ZT_E_MDB.
 */
int zt_store_dedup_horizon(struct zt_store *s, uint32_t *ret_day);

/* What the store knows of one publisher (from its publisher_id and sequence numbers). */
struct zt_publisher {
	char id[ZT_PUBLISHER_MAX + 1];
	uint64_t last_sequence; /* highest sequence seen */
	uint64_t received;
	uint64_t accepted;
	uint64_t duplicates;
	uint64_t rejected;
	uint64_t gaps;        /* times a sequence jumped forward */
	uint64_t gap_events;  /* sequences skipped by those jumps */
	uint64_t late;        /* sequences at or below the highest seen (resends, reorders) */
	uint64_t regressions; /* restarts from sequence 1 */
	int64_t last_seen_ms; /* wall clock of the last commit that saw it */
	/* reliable path: every sequence up to this one is durable or rejected (acked); set by
	 * the daemon through zt_entry.through_in, never lowered, never pruned */
	uint64_t through_sequence;
};

typedef int (*zt_publisher_cb)(const struct zt_publisher *p, void *arg);

/* Calls cb for every publisher in id order. @return 0, cb's non-zero value, or an error. */
int zt_store_publishers(struct zt_store *s, zt_publisher_cb cb, void *arg);

/* Reads one publisher's record (O(log n)). @return 1 found; 0 not found; ZT_E_CORRUPT;
 * ZT_E_MDB. */
int zt_store_publisher(struct zt_store *s, const char *id, struct zt_publisher *ret);

/* One rejected message, as kept in the bounded rejects DB. */
struct zt_reject_rec {
	uint64_t seq;      /* order of arrival, from 1 */
	int64_t at_ms;     /* wall clock of the commit */
	uint16_t reason;   /* enum zt_reject */
	uint32_t raw_len;  /* length of the original payload */
	uint32_t kept_len; /* bytes kept (payloads are truncated to ZT_REJECT_KEEP) */
	const void *raw;   /* borrowed: valid during the callback only */
};

#define ZT_REJECT_KEEP 1024

typedef int (*zt_reject_cb)(const struct zt_reject_rec *r, void *arg);

/* Calls cb for the newest `max` rejects, newest first. @return 0, cb's value, or an error. */
int zt_store_rejects(struct zt_store *s, size_t max, zt_reject_cb cb, void *arg);

/* ---------------------------------------------------------------------------------------- */
/* Operations                                                                               */

/*
 * Reader slots of the environment: in use now (live read transactions of every process),
 * and the maximum (mdb_env_get_maxreaders).
 * @return 0; ZT_E_MDB.
 */
int zt_store_readers(struct zt_store *s, unsigned *ret_in_use, unsigned *ret_max);

/* ---- the oldest reader (issue 14): a reader that holds a snapshot keeps the pages freed
 * after it from being reused, so the file grows while it stays (store/readers.c) ---- */

#define ZT_READERS_SEEN 256   /* reader slots a memo remembers (LMDB's default max is 126) */
#define ZT_READERS_SCAN 4096u /* free-list records read per call, at most */

/* One reader slot's snapshot as a memo first saw it. */
struct zt_reader_seen {
	int pid;
	uint64_t thread;
	uint64_t txnid;
	int64_t first_ms; /* the caller's clock at the first call that saw it */
};

/*
 * What zt_store_oldest_reader() keeps between calls: when each snapshot was first seen, and
 * the pages counted so far for the oldest one (the free list's records after a held
 * snapshot never change while it is held, so each is read once). Zero it before the first
 * call; it holds no pointers.
 */
struct zt_readers_memo {
	struct zt_reader_seen seen[ZT_READERS_SEEN];
	size_t n;
	uint64_t pin_txnid;   /* the snapshot pin_pages counts for; 0: none yet */
	uint64_t pin_through; /* the free-list records up to this txnid are in pin_pages */
	uint64_t pin_pages;
};

/* The reader holding the oldest snapshot, in any process. */
struct zt_oldest_reader {
	int pid;               /* 0: no reader holds a snapshot (then every field is 0) */
	uint64_t txnid;        /* the snapshot it holds */
	uint64_t behind;       /* commits made since that snapshot */
	int64_t age_ms;        /* since the memo first saw a reader hold that snapshot */
	uint64_t pinned_pages; /* pages freed after that snapshot: not reusable while it stays */
	bool pinned_partial;   /* the count is still being read (ZT_READERS_SCAN a call) */
};

/*
 * Finds the reader slot holding the oldest snapshot (mdb_reader_list()), its age, and the
 * pages it pins: the page counts of the free list's records (FREE_DBI, as `mdb_stat -f`
 * reads it) of the commits after its snapshot. Read-only; a reset read transaction of any
 * process holds nothing and is not counted.
 * @param[in,out] memo state kept between calls (zeroed before the first)
 * @param[in] now_ms the caller's clock, the same one at every call (ages are differences)
 * @param[out] ret the oldest reader, all zero when none
 * @return 0; ZT_E_MDB.
 * @note The age is a lower bound: a snapshot first seen at one call was taken at most one
 *     call interval earlier. Costs one walk of at most ZT_READERS_SCAN free-list records
 *     (one page read each) and of the reader table; call it only where this handle may
 *     read (the daemon: while the writer is idle).
 */
int zt_store_oldest_reader(
    struct zt_store *s, struct zt_readers_memo *memo, int64_t now_ms, struct zt_oldest_reader *ret);

/*
 * Copies the store into dest_dir (which must exist and hold no data.mdb) as it is at one
 * read snapshot, while a writer in this or another process keeps committing. A compacting
 * copy (MDB_CP_COMPACT) omits free pages and renumbers them, so it is often much smaller.
 * @param[in] dest_dir an existing, empty directory
 * @return 0; -ENOENT, -EEXIST (dest_dir has a data.mdb), -EACCES, -ENOSPC, -ENOTDIR;
 *     ZT_E_MDB.
 * @note Takes one reader slot for the duration; the writer is never blocked.
 */
int zt_store_backup(struct zt_store *s, const char *dest_dir, bool compact);

/* What zt_store_verify() found. */
struct zt_verify_report {
	uint64_t totals;          /* stored totals checked */
	uint64_t mismatches;      /* stored totals that differ from the sum of their leaves */
	uint64_t missing;         /* roll-ups the leaves call for that are not stored */
	struct zt_tkey first_bad; /* the first one of either kind, for the message */
};

/*
 * Checks that every roll-up equals the sum of the leaves under it (a leaf: one zone, one
 * day, one direction, one mode): provinces and the nation, months, years and all-time,
 * both directions together and all modes together. Reads one snapshot; memory grows with
 * the number of totals (about 64 bytes each).
 * @param[out] ret counts, set also when inconsistencies are found
 * @return 0 consistent; ZT_E_CORRUPT (ret says where); -ENOMEM; ZT_E_MDB.
 */
int zt_store_verify(struct zt_store *s, struct zt_verify_report *ret);
/* Sharing the daemon's store between its threads                                           */

/*
 * Opens a second, read-only handle on the environment of `owner` for another thread of the
 * same process (LMDB allows one open of an environment per process). It has its own reused
 * read transaction; map growth by the owner waits until its reads end, so reads are safe
 * while the owner writes.
 * @param[out] ret the handle, freed with zt_store_free() before the owner is
 * @return 0; -ENOMEM.
 * @note The registry is copied at this call; the handle sees later zt_store_put_zones()
 *     calls of the owner only in the totals, not in zt_store_zone().
 */
int zt_store_open_shared(struct zt_store *owner, struct zt_store **ret);

/*
 * Calls cb, in key order, for every total that the last zt_store_apply() on this handle
 * wrote, with its new absolute values (what the live feed publishes). Valid from the return
 * of a successful zt_store_apply() until the next call on the handle, from one thread.
 * @return 0; cb's non-zero value; -ENOENT (the last apply failed, or none ran).
 */
int zt_store_changed(const struct zt_store *s, zt_totals_cb cb, void *arg);

#endif /* ZT_STORE_H */
