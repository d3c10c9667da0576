/*
 * horizon.c: the dedup horizon, the first CST day whose dedup records are all still in
 * the store. Pruning deletes the records of the days before the window's cutoff; the
 * window is reloadable, so a cutoff computed from today's window says nothing about what
 * an earlier, narrower window deleted. Events of days before the horizon are therefore
 * too old whatever the window says, and the horizon, written in the transaction that
 * prunes, never moves back: a wider window takes effect only as records accumulate.
 *
 * meta "dedup_horizon" -> u32 day (YYYYMMDD CST; 0: nothing was ever pruned). Stores
 * written before the key existed get one derived from what they hold (horizon_derive()).
 */
#include <errno.h>

#include "store_int.h"

#define HORIZON_KEY "dedup_horizon"

/* The CST day after yyyymmdd; a day that is not a date maps to the next integer (same order). */
uint32_t
zt_next_day(uint32_t yyyymmdd)
{
	int64_t start = zt_cst_day_start_ms(yyyymmdd);
	if (start < 0 || yyyymmdd >= 99991231)
		return yyyymmdd == UINT32_MAX ? yyyymmdd : yyyymmdd + 1;
	return zt_cst_day(start + ZT_DAY_MS);
}

/*
 * The horizon of a store written before the key existed. Pruning deleted dedup_age in key
 * order, day first, together with each record's dedup entry, so every deleted record had
 * a day at or before the day of the first key left. Each accepted event wrote exactly one
 * dedup_age key, so when the DB holds as many keys as events were accepted nothing was
 * deleted and the horizon is 0. Otherwise the first day left may have lost records too
 * (prune_max stops within a day), so the horizon is the day after it: that may refuse,
 * for less than one day of watermark progress, late events of the oldest day whose
 * records are intact, but it never admits an event whose record is gone. With no key left
 * at all, nothing accepted up to the watermark's day can be recognised any more.
 */
static int
horizon_derive(struct zt_store *s, MDB_txn *txn, const struct ctr_rec *c, uint32_t *ret)
{
	MDB_stat st;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_stat(txn, s->dedup_age, &st);
	if (rc != 0)
		return zt_wr_err(rc);
	if (st.ms_entries == c->c.accepted) {
		*ret = 0;
		return 0;
	}
	if ((rc = mdb_cursor_open(txn, s->dedup_age, &cur)) != 0)
		return zt_wr_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		*ret = c->c.watermark_ms == 0 ? 0 : zt_next_day(zt_cst_day(c->c.watermark_ms));
		return 0;
	}
	if (rc != 0)
		return zt_wr_err(rc);
	if (k.mv_size < 4)
		return ZT_E_CORRUPT;
	*ret = zt_next_day(be32_get(k.mv_data));
	return 0;
}

/*
 * Reads the horizon in txn (read or write), deriving it for a store without the key.
 * @param[out] ret_stored whether the key exists (may be NULL)
 * @return 0; ZT_E_CORRUPT; an LMDB error mapped by zt_wr_err().
 */
int
zt_horizon_load(
    struct zt_store *s, MDB_txn *txn, const struct ctr_rec *c, uint32_t *ret, bool *ret_stored)
{
	MDB_val k = zt_mval(sizeof(HORIZON_KEY) - 1, HORIZON_KEY), v;
	int rc = mdb_get(txn, s->meta, &k, &v);
	if (ret_stored != NULL)
		*ret_stored = rc == 0;
	if (rc == MDB_NOTFOUND)
		return horizon_derive(s, txn, c, ret);
	if (rc != 0)
		return zt_wr_err(rc);
	if (v.mv_size != 4)
		return ZT_E_CORRUPT;
	*ret = be32_get(v.mv_data);
	return 0;
}

/* Writes the horizon in the write transaction txn. */
int
zt_horizon_put(struct zt_store *s, MDB_txn *txn, uint32_t day)
{
	uint8_t rec[4];
	be32_put(rec, day);
	MDB_val k = zt_mval(sizeof(HORIZON_KEY) - 1, HORIZON_KEY), v = {sizeof(rec), rec};
	return zt_wr_err(mdb_put(txn, s->meta, &k, &v, 0));
}

int
zt_store_dedup_horizon(struct zt_store *s, uint32_t *ret_day)
{
	MDB_txn *txn;
	struct ctr_rec c;
	uint32_t day = 0;
	int rc = zt_rd_acquire(s, &txn);
	if (rc < 0)
		return rc;
	if ((rc = zt_counters_load(s, txn, &c)) == 0)
		rc = zt_horizon_load(s, txn, &c, &day, NULL);
	zt_rd_release(s);
	if (rc == 0)
		*ret_day = day;
	return rc;
}
