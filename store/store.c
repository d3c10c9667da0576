/*
 * store.c: the store's lifetime: opening the LMDB environment and its named databases,
 * the schema check, the counters record, map growth, the registry copy (on disk and in
 * memory), sizes and error texts.
 *
 * On-disk layout, schema version 1 (every integer big-endian; copied into
 * docs/architecture.md):
 *   One environment <state_dir>/store/{data.mdb,lock.mdb}, opened MDB_NOTLS (read
 *   transactions are reused with reset/renew and are not tied to a thread), at most 8 named
 *   DBs. The writer uses LMDB's default sync: every commit is durable. A read-only open
 *   uses MDB_RDONLY and answers ZT_E_NOSTORE when data.mdb, a named DB or the schema record
 *   is missing. A read transaction that meets MDB_MAP_RESIZED (the writer grew the map)
 *   adopts the new size (mdb_env_set_mapsize(env, 0)) and retries.
 *   meta        "schema"   -> u32 version (written at creation; any other value is refused
 *                             with ZT_E_SCHEMA, never misread)
 *               "counters" -> u32 nreasons, u32 0, u64 received, accepted, duplicates,
 *                             rejected, commits, feed_seq, i64 watermark_ms, u64
 *                             dedup_records, reject_seq (last rejects key), then nreasons x
 *                             u64 by_reason[] (a record with fewer reasons than the build
 *                             reads the missing ones as 0, so reasons can be appended).
 *               "dedup_horizon" -> u32 day (YYYYMMDD CST): the first day whose dedup
 *                             records are all kept; events of earlier days are too_old
 *                             whatever the window. Raised to the day after the last day
 *                             pruning deleted from, in the pruning transaction, never
 *                             lowered; 0 = none pruned. Stores written before it get one
 *                             derived at their next commit (see store/horizon.c)
 *   zones       u32 code -> 158 bytes: u32 code, u32 province, u16 approved_year,
 *               u16 revoked_year, u8 batch, u8 name_check, char city_en[48], city_zh[48],
 *               province_en[48] (NUL-padded)
 *   totals      12-byte key: u8 level, u32 code, u8 granularity, u32 bucket, u8 direction,
 *               u8 mode -> 32 bytes: i64 events, value_fen, items, reversals
 *   dedup       16-byte event_id -> u8 flags (bits 0-1 state: 0 counted original,
 *               1 reversed original, 2 a reversal; bits 2-3 direction; bits 4-6 mode),
 *               u32 day (YYYYMMDD CST); originals add u32 zone, u32 items, i64 value_fen,
 *               i64 declared_at_ms (5 or 29 bytes)
 *   dedup_age   u32 day | u64 accepted ordinal -> 16-byte event_id; pruned in key
 *               order while day < cutoff (the window's, or the horizon if later),
 *               the dedup record with it. The ordinal (the accepted counter at
 *               the event) makes a day's records arrive in key order
 *               whatever the ids, so they are appended; stores written before it hold
 *               u32 day | event_id -> empty, which pruning still reads
 *   publishers  publisher id bytes (1..64, no NUL) -> u64 last_sequence, received,
 *               accepted, duplicates, rejected, gaps, gap_events, late, regressions,
 *               then i64 last_seen_ms, then u64 through_sequence (the acknowledged
 *               mark; records written before it existed are 80 bytes and read it as 0)
 *   rejects     u64 arrival seq -> i64 at_ms, u16 reason, u32 raw_len, then at most
 *               ZT_REJECT_KEEP bytes of the payload; the oldest are deleted in the same
 *               transaction beyond rejects_max
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store_int.h"

#define DEFAULT_MAP_SIZE ((size_t)1 << 30)

static const char *const db_names[] = {
    "meta",
    "zones",
    "totals",
    "dedup",
    "dedup_age",
    "publishers",
    "rejects",
};

int
zt_mdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
		return ZT_E_CORRUPT;
	default:
		return rc > 0 ? -rc : ZT_E_MDB;
	}
}

/*
 * LMDB reports a short write as EIO (mdb_page_flush: "short write, filesystem full?"), and a
 * filesystem that fills during a commit's writes gives exactly that. When the store's
 * filesystem has less than ZT_FULL_BYTES left for this process, say what happened: ENOSPC.
 */
int
zt_io_err(struct zt_store *s, int err)
{
	struct statvfs st;
	mdb_filehandle_t fd;

	if (err != -EIO || mdb_env_get_fd(s->env, &fd) != 0 || fstatvfs(fd, &st) < 0)
		return err;
	/* root may write into the blocks reserved for it, a service user may not */
	uint64_t blocks = geteuid() == 0 ? (uint64_t)st.f_bfree : (uint64_t)st.f_bavail;
	return blocks * st.f_frsize < ZT_FULL_BYTES ? -ENOSPC : err;
}

const char *
zt_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case ZT_E_SCHEMA:
		return "store has another schema version";
	case ZT_E_CORRUPT:
		return "store record has an impossible size or content";
	case ZT_E_MDB:
		return "LMDB error";
	case ZT_E_NOSTORE:
		return "no store in this directory";
	case ZT_E_CSV:
		return "malformed zone registry CSV";
	default:
		if (err < 0 && err > -4096)
			return strerror(-err);
		return "unknown error";
	}
}

void
zt_counters_encode(const struct ctr_rec *c, uint8_t out[ZT_COUNTERS_LEN])
{
	const uint64_t fixed[9] = {c->c.received, c->c.accepted, c->c.duplicates, c->c.rejected,
	    c->c.commits, c->c.feed_seq, (uint64_t)c->c.watermark_ms, c->c.dedup_records,
	    c->reject_seq};
	be32_put(out, ZT_REJECT__COUNT);
	be32_put(out + 4, 0);
	for (size_t i = 0; i < 9; i++)
		be64_put(out + 8 + 8 * i, fixed[i]);
	for (size_t i = 0; i < ZT_REJECT__COUNT; i++)
		be64_put(out + ZT_COUNTERS_FIXED + 8 * i, c->c.by_reason[i]);
}

int
zt_counters_decode(const MDB_val *v, struct ctr_rec *ret)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size < ZT_COUNTERS_FIXED)
		return ZT_E_CORRUPT;
	uint32_t nr = be32_get(p);
	if (nr > ZT_REJECT__COUNT || v->mv_size != ZT_COUNTERS_FIXED + 8 * (size_t)nr)
		return ZT_E_CORRUPT;
	*ret = (struct ctr_rec){0};
	ret->c.received = be64_get(p + 8);
	ret->c.accepted = be64_get(p + 16);
	ret->c.duplicates = be64_get(p + 24);
	ret->c.rejected = be64_get(p + 32);
	ret->c.commits = be64_get(p + 40);
	ret->c.feed_seq = be64_get(p + 48);
	ret->c.watermark_ms = (int64_t)be64_get(p + 56);
	ret->c.dedup_records = be64_get(p + 64);
	ret->reject_seq = be64_get(p + 72);
	for (uint32_t i = 0; i < nr; i++)
		ret->c.by_reason[i] = be64_get(p + ZT_COUNTERS_FIXED + 8 * i);
	return 0;
}

/* Reads the counters record in txn; a store with none reads as zeros. */
int
zt_counters_load(struct zt_store *s, MDB_txn *txn, struct ctr_rec *ret)
{
	MDB_val k = zt_mval(8, "counters"), v;
	int rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*ret = (struct ctr_rec){0};
		return 0;
	}
	if (rc != 0)
		return zt_mdb_err(rc);
	return zt_counters_decode(&v, ret);
}

/* Frees the cached read transaction; only while no reader uses it. */
void
zt_rtxn_drop(struct zt_store *s)
{
	if (s->rtxn != NULL && s->rdepth == 0) {
		mdb_txn_abort(s->rtxn);
		s->rtxn = NULL;
	}
}

/* Doubles the map after MDB_MAP_FULL; the caller has aborted its write transaction. */
int
zt_map_grow(struct zt_store *s)
{
	MDB_envinfo info;
	int rc = mdb_env_info(s->env, &info);
	if (rc != 0)
		return zt_mdb_err(rc);
	if (info.me_mapsize > SIZE_MAX / 2)
		return -ENOSPC;
	zt_rtxn_drop(s);
	if (s->maplock != NULL)
		(void)pthread_rwlock_wrlock(s->maplock);
	rc = mdb_env_set_mapsize(s->env, info.me_mapsize * 2);
	if (s->maplock != NULL)
		(void)pthread_rwlock_unlock(s->maplock);
	if (rc == ENOMEM)
		return -ENOSPC;
	return zt_mdb_err(rc);
}

static void
zone_encode(const struct zt_zone *z, uint8_t out[ZT_ZONE_REC_LEN])
{
	memset(out, 0, ZT_ZONE_REC_LEN);
	be32_put(out, z->code);
	be32_put(out + 4, z->province);
	be16_put(out + 8, z->approved_year);
	be16_put(out + 10, z->revoked_year);
	out[12] = z->batch;
	out[13] = z->name_check;
	memcpy(out + 14, z->city_en, sizeof(z->city_en) - 1);
	memcpy(out + 62, z->city_zh, sizeof(z->city_zh) - 1);
	memcpy(out + 110, z->province_en, sizeof(z->province_en) - 1);
}

static int
zone_decode(const MDB_val *v, struct zt_zone *z)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size != ZT_ZONE_REC_LEN)
		return ZT_E_CORRUPT;
	*z = (struct zt_zone){
	    .code = be32_get(p),
	    .province = be32_get(p + 4),
	    .approved_year = be16_get(p + 8),
	    .revoked_year = be16_get(p + 10),
	    .batch = p[12],
	    .name_check = p[13],
	};
	memcpy(z->city_en, p + 14, sizeof(z->city_en) - 1);
	memcpy(z->city_zh, p + 62, sizeof(z->city_zh) - 1);
	memcpy(z->province_en, p + 110, sizeof(z->province_en) - 1);
	return 0;
}

/* Reads the zones DB into a new in-memory array, replacing the old one on success. */
static int
zones_load(struct zt_store *s, MDB_txn *txn)
{
	MDB_stat st;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_stat(txn, s->zones_db, &st);
	if (rc != 0)
		return zt_mdb_err(rc);
	struct zt_zone *zones = calloc(st.ms_entries ? st.ms_entries : 1, sizeof(*zones));
	if (zones == NULL)
		return -ENOMEM;
	size_t n = 0;
	int err = zt_mdb_err(mdb_cursor_open(txn, s->zones_db, &cur));
	if (err < 0) {
		free(zones);
		return err;
	}
	for (int op = MDB_FIRST; n < st.ms_entries; op = MDB_NEXT) {
		rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
		if (rc != 0) {
			err = rc == MDB_NOTFOUND ? 0 : zt_mdb_err(rc);
			break;
		}
		if ((err = zone_decode(&v, &zones[n++])) < 0)
			break;
	}
	mdb_cursor_close(cur);
	if (err < 0) {
		free(zones);
		return err;
	}
	free(s->zones);
	s->zones = zones;
	s->nzones = n;
	return 0;
}

static int
zone_cmp(const void *a, const void *b)
{
	const struct zt_zone *x = a, *y = b;
	return x->code < y->code ? -1 : x->code > y->code;
}

/* Writes the registry in one transaction; returns an MDB code (MAP_FULL is retried). */
static int
zones_write(struct zt_store *s, const struct zt_zone *zones, size_t n)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	if ((rc = mdb_drop(txn, s->zones_db, 0)) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		uint8_t key[4], rec[ZT_ZONE_REC_LEN];
		be32_put(key, zones[i].code);
		zone_encode(&zones[i], rec);
		MDB_val k = {sizeof(key), key}, v = {sizeof(rec), rec};
		if ((rc = mdb_put(txn, s->zones_db, &k, &v, 0)) != 0)
			goto fail;
	}
	return mdb_txn_commit(txn);
fail:
	mdb_txn_abort(txn);
	return rc;
}

int
zt_store_put_zones(struct zt_store *s, const struct zt_zone *zones, size_t n)
{
	if (s->rdonly)
		return -EROFS;
	struct zt_zone *copy = malloc((n ? n : 1) * sizeof(*copy));
	if (copy == NULL)
		return -ENOMEM;
	if (n > 0)
		memcpy(copy, zones, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), zone_cmp);
	int rc, err = 0;
	while ((rc = zones_write(s, copy, n)) == MDB_MAP_FULL)
		if ((err = zt_map_grow(s)) < 0)
			break;
	if (err == 0)
		err = zt_io_err(s, zt_mdb_err(rc));
	if (err < 0) {
		free(copy);
		return err;
	}
	free(s->zones);
	s->zones = copy;
	s->nzones = n;
	return 0;
}

const struct zt_zone *
zt_store_zone(const struct zt_store *s, uint32_t code)
{
	size_t lo = 0, hi = s->nzones;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->zones[mid].code == code)
			return &s->zones[mid];
		if (s->zones[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t
zt_store_zones(const struct zt_store *s, const struct zt_zone **ret)
{
	*ret = s->zones;
	return s->nzones;
}

int
zt_store_size(struct zt_store *s, uint64_t *ret_map_bytes, uint64_t *ret_used_bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc = mdb_env_info(s->env, &info);
	if (rc == 0)
		rc = mdb_env_stat(s->env, &st);
	if (rc != 0)
		return zt_mdb_err(rc);
	*ret_map_bytes = info.me_mapsize;
	*ret_used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	return 0;
}

/* Creates the schema and counters records of a new store in txn. */
static int
schema_create(struct zt_store *s, MDB_txn *txn)
{
	uint8_t ver[4], ctr[ZT_COUNTERS_LEN];
	struct ctr_rec zero = {0};
	be32_put(ver, ZT_SCHEMA_VERSION);
	zt_counters_encode(&zero, ctr);
	MDB_val k = zt_mval(6, "schema"), v = {sizeof(ver), ver};
	int rc = mdb_put(txn, s->meta, &k, &v, MDB_NOOVERWRITE);
	if (rc != 0)
		return zt_mdb_err(rc);
	k = zt_mval(8, "counters");
	v = (MDB_val){sizeof(ctr), ctr};
	return zt_mdb_err(mdb_put(txn, s->meta, &k, &v, MDB_NOOVERWRITE));
}

/* Opens every named DB and checks (or, read-write, creates) the schema record. */
static int
open_dbs(struct zt_store *s, MDB_txn *txn)
{
	MDB_dbi *dbis[] = {
	    &s->meta, &s->zones_db, &s->totals, &s->dedup, &s->dedup_age, &s->pubs, &s->rejects};
	for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++) {
		int rc = mdb_dbi_open(txn, db_names[i], s->rdonly ? 0 : MDB_CREATE, dbis[i]);
		if (rc == MDB_NOTFOUND)
			return ZT_E_NOSTORE;
		if (rc != 0)
			return zt_mdb_err(rc);
	}
	MDB_val k = zt_mval(6, "schema"), v;
	int rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return s->rdonly ? ZT_E_NOSTORE : schema_create(s, txn);
	if (rc != 0)
		return zt_mdb_err(rc);
	if (v.mv_size != 4 || be32_get(v.mv_data) != ZT_SCHEMA_VERSION)
		return ZT_E_SCHEMA;
	return 0;
}

/*
 * Makes lock.mdb group-writable: every LMDB reader, read-only ones too, registers in its
 * reader table, so a monitoring program in the store owner's group (the documented way:
 * sysusers' group zonetally) needs to write it; data.mdb keeps its 0644-less-umask mode.
 * Not being the file's owner (a store another user created) leaves it as it is.
 */
static int
lock_group_writable(const char *dir)
{
	char path[4096];
	int len = snprintf(path, sizeof(path), "%s/lock.mdb", dir);

	if (len < 0 || (size_t)len >= sizeof(path))
		return -ENAMETOOLONG;
	if (chmod(path, 0660) < 0 && errno != EPERM)
		return -errno;
	return 0;
}

/* Creates and opens the environment (no transaction yet); extra: more MDB_* env flags. */
static int
env_open(struct zt_store *s, const char *dir, size_t map_size, unsigned extra)
{
	int rc = mdb_env_create(&s->env);
	if (rc != 0)
		return zt_mdb_err(rc);
	if ((rc = mdb_env_set_maxdbs(s->env, 8)) != 0)
		return zt_mdb_err(rc);
	if (s->rdonly) {
		char path[4096];
		struct stat st;
		int len = snprintf(path, sizeof(path), "%s/data.mdb", dir);
		if (len < 0 || (size_t)len >= sizeof(path))
			return -ENAMETOOLONG;
		if (stat(path, &st) < 0)
			return errno == ENOENT ? ZT_E_NOSTORE : -errno;
	} else if ((rc = mdb_env_set_mapsize(s->env, map_size ? map_size : DEFAULT_MAP_SIZE))) {
		return zt_mdb_err(rc);
	}
	unsigned flags = MDB_NOTLS | extra | (s->rdonly ? MDB_RDONLY : 0);
	if ((rc = mdb_env_open(s->env, dir, flags, 0644)) != 0 || s->rdonly)
		return zt_mdb_err(rc);
	return lock_group_writable(dir);
}

int
zt_store_open(const char *dir, unsigned flags, size_t map_size, struct zt_store **ret)
{
	struct zt_store *s = calloc(1, sizeof(*s));
	MDB_txn *txn = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->rdonly = (flags & ZT_STORE_RDONLY) != 0;
	int rc = env_open(s, dir, map_size, (flags & ZT_STORE_NOSYNC) != 0 ? MDB_NOSYNC : 0);
	if (rc < 0)
		goto fail;
	if (!s->rdonly) {
		int dead;
		(void)mdb_reader_check(s->env, &dead);
		if ((rc = zt_maplock_new(s)) < 0)
			goto fail;
	}
	if ((rc = zt_mdb_err(mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn))))
		goto fail;
	if ((rc = open_dbs(s, txn)) < 0 || (rc = zones_load(s, txn)) < 0)
		goto fail;
	rc = zt_mdb_err(mdb_txn_commit(txn));
	txn = NULL;
	if (rc < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	zt_store_free(s);
	return rc;
}

int
zt_store_reader_check(struct zt_store *s, int *ret_cleared)
{
	int dead = 0;
	int rc = mdb_reader_check(s->env, &dead);
	if (rc != 0)
		return zt_mdb_err(rc);
	if (ret_cleared != NULL)
		*ret_cleared = dead;
	return 0;
}

struct zt_store *
zt_store_free(struct zt_store *s)
{
	if (s == NULL)
		return NULL;
	if (s->rtxn != NULL)
		mdb_txn_abort(s->rtxn);
	if (s->env != NULL && !s->shared)
		mdb_env_close(s->env);
	if (s->maplock != NULL && !s->shared) {
		(void)pthread_rwlock_destroy(s->maplock);
		free(s->maplock);
	}
	free(s->zones);
	free(s->tab);
	free(s->tab_list);
	free(s->cells);
	free(s->cell_list);
	free(s->dirty);
	free(s->ptab);
	free(s->ptab_list);
	free(s->out);
	free(s->reason);
	free(s->gap);
	free(s->deferred);
	free(s->dd_exists);
	free(s->cand);
	free(s->pend);
	free(s->run);
	free(s->run_pend);
	free(s);
	return NULL;
}
