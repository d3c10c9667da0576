/*
 * store_int.h: private to store/: the definition of struct zt_store, the on-disk record
 * codecs shared by store.c, apply.c and read.c, and the per-batch scratch tables that
 * zt_store_apply() reuses across calls. Not installed, not included outside store/.
 */
#ifndef ZT_STORE_INT_H
#define ZT_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store.h"

#define ZT_DAY_MS         86400000LL
#define ZT_PRUNE_DEFAULT  1024u    /* prune_max 0 means this */
#define ZT_DEDUP_HDR_LEN  5        /* flags(1) day(4) */
#define ZT_DEDUP_ORIG_LEN 29       /* + zone(4) items(4) value(8) declared_at(8) */
#define ZT_AGE_KEY_LEN    12       /* dedup_age: day(4) accepted ordinal(8) */
#define ZT_ZONE_REC_LEN   158      /* see zone_encode() in store.c */
#define ZT_PUB_REC_V1_LEN (10 * 8) /* before through_sequence was appended */
#define ZT_PUB_REC_LEN    (11 * 8)
#define ZT_REJ_HDR_LEN    14          /* at_ms(8) reason(2) raw_len(4) */
#define ZT_COUNTERS_FIXED (8 + 9 * 8) /* nreasons(4) pad(4) then 9 x u64 */
#define ZT_COUNTERS_LEN   (ZT_COUNTERS_FIXED + 8 * ZT_REJECT__COUNT)
#define ZT_EVENT_TOTALS   48               /* 3 levels x 4 granularities x 2 directions x 2 modes */
#define ZT_E_MAPFULL      (ZT_E_BASE - 99) /* internal: abort, grow the map, retry */

/* dedup record state, the low two bits of the flags byte */
enum dd_state {
	DD_COUNTED = 0,  /* an original that is counted */
	DD_REVERSED = 1, /* an original that a reversal subtracted */
	DD_REVERSAL = 2, /* a cancellation or return (its own id, for resend detection) */
};

struct dd_rec {
	uint8_t state; /* enum dd_state */
	uint8_t direction;
	uint8_t mode;
	uint32_t day;
	uint32_t zone;
	uint32_t items;
	int64_t value_fen;
	int64_t declared_at_ms;
};

/* Counters as stored, plus the arrival sequence of the last reject. */
struct ctr_rec {
	struct zt_counters c;
	uint64_t reject_seq;
};

/* One coalesced total: absolute values, valid in the current batch when gen matches. */
struct tslot {
	uint8_t key[ZT_TKEY_LEN];
	uint32_t gen;
	uint32_t changed;
	uint32_t loaded; /* v is absolute; else v holds this batch's deltas only */
	int64_t v[4];
};

/* The summed deltas of a batch's events of one zone, day, direction and mode. */
struct cell {
	uint64_t key; /* see cell_key() in apply_cell.c */
	uint32_t gen;
	uint32_t pad;
	int64_t d[4];
};

/* The greatest key a DB may hold, for appending in place of a search. */
struct tail {
	uint8_t key[4 + ZT_EVENT_ID_LEN];
	size_t len;
	bool empty; /* the DB held no key */
};

/* A candidate id of the batch and its entry, for the lookups in id order. */
struct dd_cand {
	uint8_t id[ZT_EVENT_ID_LEN];
	uint32_t entry;
	/* in the first candidate of each id (its run): 1 + the last entry that is a declaration
	 * of this id, 0 if none is (see zt_dd_decl_after()) */
	uint32_t last_decl;
};

/* Whether key k sorts after every key the DB holds (so it is not in it and can be appended). */
static inline bool
zt_tail_after(MDB_txn *txn, MDB_dbi dbi, const struct tail *t, const MDB_val *k)
{
	MDB_val last = {t->len, (void *)(uintptr_t)t->key};
	return t->empty || mdb_cmp(txn, dbi, k, &last) > 0;
}

/* A dedup record claimed by the batch, written at its end (apply_dedup.c). */
struct dd_pend {
	uint8_t id[ZT_EVENT_ID_LEN];
	uint8_t rec[ZT_DEDUP_ORIG_LEN];
	uint8_t len;
	uint8_t live; /* 0: the claim was taken back */
};

/* A dirty key queued for the sorted write-out. */
struct tdirty {
	uint8_t key[ZT_TKEY_LEN];
	uint32_t slot;
};

/* One publisher touched by the batch. */
struct pslot {
	struct zt_publisher p;
	uint32_t gen;
	uint32_t hash;
};

struct zt_store {
	MDB_env *env;
	MDB_dbi meta, zones_db, totals, dedup, dedup_age, pubs, rejects;
	bool rdonly;
	bool shared;     /* opened by zt_store_open_shared(): env borrowed from the owner */
	bool changed_ok; /* the dirty list describes the last successful commit */
	/* read-write handles own it; shared handles borrow it: readers of this process hold
	 * it shared while a read transaction is live, map growth holds it exclusive, because
	 * mdb_env_set_mapsize() remaps under every thread of the process */
	pthread_rwlock_t *maplock;
	/* the cached read transaction (MDB_NOTLS: reset/renew, never tied to a thread) */
	MDB_txn *rtxn;
	int rdepth;       /* nested users of rtxn, 0 = reset */
	bool in_snapshot; /* zt_store_read_begin() holds rtxn */
	/* the registry, immutable between zt_store_put_zones() calls */
	struct zt_zone *zones;
	size_t nzones;
	/* zt_store_apply() scratch, grown and reused across calls. Each hash table keeps the
	 * list of the slots the batch uses, so that flushing or growing it visits those only:
	 * a table keeps the capacity of the largest batch, and a scan of the whole of it would
	 * make every later batch cost as much as that one. */
	struct tslot *tab;
	uint32_t tab_cap; /* power of two */
	uint32_t tab_used;
	uint32_t *tab_list; /* the batch's slots in tab, tab_used of them (cap / 2 room) */
	uint32_t gen;
	struct cell *cells;
	uint32_t cell_cap; /* power of two */
	uint32_t cell_used;
	uint32_t *cell_list; /* the batch's slots in cells, cell_used of them */
	uint32_t cgen;
	struct tdirty *dirty;
	uint32_t dirty_cap;
	uint32_t ndirty;
	struct pslot *ptab;
	uint32_t ptab_cap; /* power of two */
	uint32_t ptab_used;
	uint32_t *ptab_list; /* the batch's slots in ptab, ptab_used of them */
	uint32_t pgen;
	uint8_t *out;
	uint16_t *reason;
	uint64_t *gap;
	uint8_t *deferred;    /* per entry: a reversal applied after the rest of its batch */
	uint8_t *dd_exists;   /* per entry: its id is in the dedup DB (zt_dd_prefetch()) */
	struct dd_cand *cand; /* per entry: the candidates in id order */
	uint32_t *run;        /* per entry: the index in cand of its id's first candidate */
	size_t ncand;
	size_t out_cap;
	struct dd_pend *pend; /* the batch's dedup claims */
	size_t pend_cap, npend;
	uint32_t *run_pend; /* per id's first candidate: its claim in pend (index + 1), or 0 */
	size_t run_pend_cap;
	uint64_t steps;       /* zt_apply_result.batch_steps of the current attempt */
	uint8_t hash_key[16]; /* zt_siphash() key of the publisher table (hash.c) */
	bool hash_key_set;
};

/* An MDB_val over read-only bytes: LMDB's mv_data is not const, but never written
 * through for keys and for the data of mdb_put without MDB_RESERVE. */
static inline MDB_val
zt_mval(size_t len, const void *p)
{
	return (MDB_val){len, (void *)(uintptr_t)p};
}

static inline void
be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
be64_put(uint8_t *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}

static inline uint16_t
be16_get(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
be64_get(const uint8_t *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

/* store.c */
int zt_mdb_err(int rc);
#define ZT_FULL_BYTES (1 << 20) /* less free than this: an EIO from a write means ENOSPC */
int zt_io_err(struct zt_store *s, int err);
void zt_counters_encode(const struct ctr_rec *c, uint8_t out[ZT_COUNTERS_LEN]);
int zt_counters_decode(const MDB_val *v, struct ctr_rec *ret);
int zt_counters_load(struct zt_store *s, MDB_txn *txn, struct ctr_rec *ret);
int zt_map_grow(struct zt_store *s);
int zt_maplock_new(struct zt_store *s);
void zt_rtxn_drop(struct zt_store *s);

/* As zt_mdb_err(), but MDB_MAP_FULL becomes the internal ZT_E_MAPFULL (grow and retry). */
static inline int
zt_wr_err(int rc)
{
	return rc == MDB_MAP_FULL ? ZT_E_MAPFULL : zt_mdb_err(rc);
}

/* read.c */
void zt_totals_decode(const uint8_t *p, struct zt_totals *ret);
void zt_totals_encode(const int64_t v[4], uint8_t out[32]);
void zt_publisher_decode(const MDB_val *k, const MDB_val *v, struct zt_publisher *ret);
void zt_publisher_encode(const struct zt_publisher *p, uint8_t out[ZT_PUB_REC_LEN]);
int zt_rd_acquire(struct zt_store *s, MDB_txn **ret);
void zt_rd_release(struct zt_store *s);

/* apply_tab.c */
int zt_tab_reserve(struct zt_store *s, uint32_t more);
int zt_tab_get(
    struct zt_store *s, MDB_txn *txn, const uint8_t key[ZT_TKEY_LEN], uint32_t *ret_slot);
int zt_tab_add(struct zt_store *s, MDB_txn *txn, uint8_t keys[ZT_EVENT_TOTALS][ZT_TKEY_LEN],
    const int64_t d[4]);
int zt_tab_add_deltas(
    struct zt_store *s, uint8_t keys[ZT_EVENT_TOTALS][ZT_TKEY_LEN], const int64_t d[4]);
int zt_tab_flush(struct zt_store *s, MDB_txn *txn, uint32_t *ret_written);
int zt_pub_get(struct zt_store *s, MDB_txn *txn, const char *id, struct zt_publisher **ret);
int zt_pub_flush(struct zt_store *s, MDB_txn *txn, int64_t now_ms);
void zt_tab_begin(struct zt_store *s);
void zt_dd_encode(const struct dd_rec *r, uint8_t out[ZT_DEDUP_ORIG_LEN], size_t *ret_len);
int zt_dd_decode(const MDB_val *v, struct dd_rec *ret);

/* apply_dedup.c */
int zt_dd_begin(struct zt_store *s, size_t n);
int zt_dd_prefetch(
    struct zt_store *s, MDB_txn *txn, const struct tail *t, const struct zt_entry *e, size_t n);
int zt_dd_claim(struct zt_store *s, size_t i, const uint8_t id[ZT_EVENT_ID_LEN], const uint8_t *rec,
    size_t len);
void zt_dd_unclaim(struct zt_store *s, size_t i);
bool zt_dd_decl_after(struct zt_store *s, const uint8_t id[ZT_EVENT_ID_LEN], size_t i);
int zt_dd_get(
    struct zt_store *s, MDB_txn *txn, const uint8_t id[ZT_EVENT_ID_LEN], struct dd_rec *ret);
int zt_dd_update(struct zt_store *s, MDB_txn *txn, const uint8_t id[ZT_EVENT_ID_LEN],
    const uint8_t *rec, size_t len);
int zt_dd_flush(struct zt_store *s, MDB_txn *txn, const struct tail *t);

/* hash.c */
uint64_t zt_siphash(const uint8_t k[16], const void *p, size_t len);
void zt_hash_key_init(struct zt_store *s);

/* horizon.c */
uint32_t zt_next_day(uint32_t yyyymmdd);
int zt_horizon_load(
    struct zt_store *s, MDB_txn *txn, const struct ctr_rec *c, uint32_t *ret, bool *ret_stored);
int zt_horizon_put(struct zt_store *s, MDB_txn *txn, uint32_t day);

/* apply_cell.c */
void zt_event_keys(uint32_t zone, uint32_t day, uint8_t dir, uint8_t mode,
    uint8_t keys[ZT_EVENT_TOTALS][ZT_TKEY_LEN]);
void zt_cells_begin(struct zt_store *s);
int zt_cells_add(struct zt_store *s, const struct zt_event *ev, uint32_t day, const int64_t d[4]);
int zt_cells_flush(struct zt_store *s);

#endif /* ZT_STORE_INT_H */
