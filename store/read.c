/*
 * read.c: every read of the store: the cached read transaction (reset/renew, so a read
 * allocates nothing), one total, the 18 totals of a period, range scans, counters,
 * publishers and rejects; and the codecs of the records it decodes.
 */
#include <errno.h>

#include "store_int.h"

void
zt_totals_decode(const uint8_t *p, struct zt_totals *ret)
{
	ret->events = (int64_t)be64_get(p);
	ret->value_fen = (int64_t)be64_get(p + 8);
	ret->items = (int64_t)be64_get(p + 16);
	ret->reversals = (int64_t)be64_get(p + 24);
}

void
zt_totals_encode(const int64_t v[4], uint8_t out[32])
{
	for (int i = 0; i < 4; i++)
		be64_put(out + 8 * i, (uint64_t)v[i]);
}

void
zt_publisher_encode(const struct zt_publisher *p, uint8_t out[ZT_PUB_REC_LEN])
{
	const uint64_t f[11] = {p->last_sequence, p->received, p->accepted, p->duplicates,
	    p->rejected, p->gaps, p->gap_events, p->late, p->regressions, (uint64_t)p->last_seen_ms,
	    p->through_sequence};
	for (int i = 0; i < 11; i++)
		be64_put(out + 8 * i, f[i]);
}

void
zt_publisher_decode(const MDB_val *k, const MDB_val *v, struct zt_publisher *ret)
{
	const uint8_t *p = v->mv_data;
	size_t idlen = k->mv_size > ZT_PUBLISHER_MAX ? ZT_PUBLISHER_MAX : k->mv_size;
	*ret = (struct zt_publisher){0};
	memcpy(ret->id, k->mv_data, idlen);
	ret->last_sequence = be64_get(p);
	ret->received = be64_get(p + 8);
	ret->accepted = be64_get(p + 16);
	ret->duplicates = be64_get(p + 24);
	ret->rejected = be64_get(p + 32);
	ret->gaps = be64_get(p + 40);
	ret->gap_events = be64_get(p + 48);
	ret->late = be64_get(p + 56);
	ret->regressions = be64_get(p + 64);
	ret->last_seen_ms = (int64_t)be64_get(p + 72);
	/* records written before the reliable path have no through_sequence: nothing acked */
	if (v->mv_size >= ZT_PUB_REC_LEN)
		ret->through_sequence = be64_get(p + 80);
}

/* Starts the cached read transaction fresh, adopting a map the writer has grown. */
static int
rtxn_start(struct zt_store *s)
{
	for (int tries = 0; tries < 4; tries++) {
		int rc;
		if (s->rtxn != NULL)
			rc = mdb_txn_renew(s->rtxn);
		else
			rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
		if (rc != MDB_MAP_RESIZED)
			return zt_mdb_err(rc);
		zt_rtxn_drop(s);
		if ((rc = mdb_env_set_mapsize(s->env, 0)) != 0)
			return zt_mdb_err(rc);
	}
	return ZT_E_MDB;
}

/* Returns the read transaction to use, starting it unless a caller already holds it. */
int
zt_rd_acquire(struct zt_store *s, MDB_txn **ret)
{
	if (s->rdepth == 0) {
		if (s->maplock != NULL)
			(void)pthread_rwlock_rdlock(s->maplock);
		int rc = rtxn_start(s);
		if (rc < 0) {
			if (s->maplock != NULL)
				(void)pthread_rwlock_unlock(s->maplock);
			return rc;
		}
	}
	s->rdepth++;
	*ret = s->rtxn;
	return 0;
}

void
zt_rd_release(struct zt_store *s)
{
	if (s->rdepth > 0 && --s->rdepth == 0) {
		mdb_txn_reset(s->rtxn);
		if (s->maplock != NULL)
			(void)pthread_rwlock_unlock(s->maplock);
	}
}

int
zt_store_read_begin(struct zt_store *s)
{
	MDB_txn *txn;
	if (s->in_snapshot)
		return -EBUSY;
	int rc = zt_rd_acquire(s, &txn);
	if (rc < 0)
		return rc;
	s->in_snapshot = true;
	return 0;
}

void
zt_store_read_end(struct zt_store *s)
{
	if (!s->in_snapshot)
		return;
	s->in_snapshot = false;
	zt_rd_release(s);
}

int
zt_store_get(struct zt_store *s, const struct zt_tkey *k, struct zt_totals *ret)
{
	uint8_t key[ZT_TKEY_LEN];
	MDB_txn *txn;
	MDB_val mk = {sizeof(key), key}, mv;
	zt_tkey_encode(k, key);
	*ret = (struct zt_totals){0};
	int rc = zt_rd_acquire(s, &txn);
	if (rc < 0)
		return rc;
	rc = mdb_get(txn, s->totals, &mk, &mv);
	if (rc == 0 && mv.mv_size == 32)
		zt_totals_decode(mv.mv_data, ret);
	zt_rd_release(s);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return zt_mdb_err(rc);
	return mv.mv_size == 32 ? 1 : ZT_E_CORRUPT;
}

/* Walks keys from `from` while cb returns 0 and keys stay <= `to` (prefix: first plen). */
static int
walk(struct zt_store *s, const uint8_t from[ZT_TKEY_LEN], const uint8_t to[ZT_TKEY_LEN],
    zt_totals_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = zt_mval(ZT_TKEY_LEN, from), v;
	int rc = zt_rd_acquire(s, &txn);
	if (rc < 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->totals, &cur)) != 0) {
		zt_rd_release(s);
		return zt_mdb_err(rc);
	}
	int out = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct zt_tkey tk;
		struct zt_totals t;
		if (k.mv_size == ZT_TKEY_LEN && memcmp(k.mv_data, to, ZT_TKEY_LEN) > 0)
			break;
		if (zt_tkey_decode(k.mv_data, k.mv_size, &tk) < 0 || v.mv_size != 32) {
			out = ZT_E_CORRUPT;
			break;
		}
		zt_totals_decode(v.mv_data, &t);
		if ((out = cb(&tk, &t, arg)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	zt_rd_release(s);
	if (out == 0 && rc != 0 && rc != MDB_NOTFOUND)
		out = zt_mdb_err(rc);
	return out;
}

int
zt_store_scan(struct zt_store *s, const struct zt_tkey *from, const struct zt_tkey *to,
    zt_totals_cb cb, void *arg)
{
	uint8_t a[ZT_TKEY_LEN], b[ZT_TKEY_LEN];
	zt_tkey_encode(from, a);
	zt_tkey_encode(to, b);
	return walk(s, a, b, cb, arg);
}

struct block_ctx {
	struct zt_totals_block *b;
	int found;
};

static int
block_cb(const struct zt_tkey *k, const struct zt_totals *t, void *arg)
{
	struct block_ctx *c = arg;
	c->b->t[k->direction][k->mode] = *t;
	c->found++;
	return 0;
}

int
zt_store_get_block(struct zt_store *s, const struct zt_tkey *k, struct zt_totals_block *ret)
{
	struct zt_tkey lo = *k, hi = *k;
	uint8_t a[ZT_TKEY_LEN], b[ZT_TKEY_LEN];
	struct block_ctx c = {ret, 0};
	lo.direction = 0;
	lo.mode = 0;
	hi.direction = ZT_DIR__COUNT - 1;
	hi.mode = ZT_MODE__COUNT - 1;
	zt_tkey_encode(&lo, a);
	zt_tkey_encode(&hi, b);
	*ret = (struct zt_totals_block){0};
	int rc = walk(s, a, b, block_cb, &c);
	return rc < 0 ? rc : c.found;
}

int
zt_store_counters(struct zt_store *s, struct zt_counters *ret)
{
	MDB_txn *txn;
	struct ctr_rec c;
	int rc = zt_rd_acquire(s, &txn);
	if (rc < 0)
		return rc;
	rc = zt_counters_load(s, txn, &c);
	MDB_stat st = {0};
	if (rc == 0 && (rc = mdb_stat(txn, s->rejects, &st)) != 0)
		rc = zt_mdb_err(rc);
	zt_rd_release(s);
	if (rc == 0) {
		*ret = c.c;
		/* every reject took the next arrival number; those not kept were dropped */
		ret->rejects_kept = st.ms_entries;
		ret->rejects_dropped =
		    c.reject_seq > st.ms_entries ? c.reject_seq - st.ms_entries : 0;
	}
	return rc;
}

/* Iterates one DB with a cursor: first..last (newest first when reverse), at most max. */
static int
iterate(struct zt_store *s, MDB_dbi dbi, bool reverse, size_t max,
    int (*fn)(const MDB_val *k, const MDB_val *v, void *arg), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = zt_rd_acquire(s, &txn);
	if (rc < 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
		zt_rd_release(s);
		return zt_mdb_err(rc);
	}
	int out = 0;
	size_t n = 0;
	MDB_cursor_op first = reverse ? MDB_LAST : MDB_FIRST, next = reverse ? MDB_PREV : MDB_NEXT;
	for (rc = mdb_cursor_get(cur, &k, &v, first); rc == 0 && n < max;
	     rc = mdb_cursor_get(cur, &k, &v, next), n++)
		if ((out = fn(&k, &v, arg)) != 0)
			break;
	mdb_cursor_close(cur);
	zt_rd_release(s);
	if (out == 0 && rc != 0 && rc != MDB_NOTFOUND)
		out = zt_mdb_err(rc);
	return out;
}

struct pub_ctx {
	zt_publisher_cb cb;
	void *arg;
};

struct rej_ctx {
	zt_reject_cb cb;
	void *arg;
};

static int
pub_fn(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct pub_ctx *c = arg;
	struct zt_publisher p;
	if ((v->mv_size != ZT_PUB_REC_LEN && v->mv_size != ZT_PUB_REC_V1_LEN) || k->mv_size == 0 ||
	    k->mv_size > ZT_PUBLISHER_MAX)
		return ZT_E_CORRUPT;
	zt_publisher_decode(k, v, &p);
	return c->cb(&p, c->arg);
}

int
zt_store_publishers(struct zt_store *s, zt_publisher_cb cb, void *arg)
{
	struct pub_ctx c = {cb, arg};
	return iterate(s, s->pubs, false, SIZE_MAX, pub_fn, &c);
}

int
zt_store_publisher(struct zt_store *s, const char *id, struct zt_publisher *ret)
{
	MDB_txn *txn;
	size_t len = strlen(id);
	MDB_val k = {len, (void *)(uintptr_t)id}, v;

	if (len == 0 || len > ZT_PUBLISHER_MAX)
		return 0;
	int rc = zt_rd_acquire(s, &txn);
	if (rc < 0)
		return rc;
	rc = mdb_get(txn, s->pubs, &k, &v);
	bool ok = rc == 0 && (v.mv_size == ZT_PUB_REC_LEN || v.mv_size == ZT_PUB_REC_V1_LEN);
	if (ok)
		zt_publisher_decode(&k, &v, ret);
	zt_rd_release(s);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return zt_mdb_err(rc);
	return ok ? 1 : ZT_E_CORRUPT;
}

static int
rej_fn(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct rej_ctx *c = arg;
	const uint8_t *p = v->mv_data;
	if (k->mv_size != 8 || v->mv_size < ZT_REJ_HDR_LEN ||
	    v->mv_size > ZT_REJ_HDR_LEN + ZT_REJECT_KEEP)
		return ZT_E_CORRUPT;
	struct zt_reject_rec r = {
	    .seq = be64_get(k->mv_data),
	    .at_ms = (int64_t)be64_get(p),
	    .reason = be16_get(p + 8),
	    .raw_len = be32_get(p + 10),
	    .kept_len = (uint32_t)(v->mv_size - ZT_REJ_HDR_LEN),
	    .raw = p + ZT_REJ_HDR_LEN,
	};
	return c->cb(&r, c->arg);
}

int
zt_store_rejects(struct zt_store *s, size_t max, zt_reject_cb cb, void *arg)
{
	struct rej_ctx c = {cb, arg};
	return iterate(s, s->rejects, true, max, rej_fn, &c);
}
