/*
 * apply_dedup.c: the dedup DB as one zt_store_apply() attempt sees it. Judging events in
 * arrival order and inserting each id at once made every event a search from the root of
 * the dedup tree, twice over for random ids (the existence check and the copy-on-write of
 * the leaf), with the dirty-page list searched at every level. Instead:
 *
 *   1. zt_dd_prefetch(): before the batch is judged, every candidate id is looked up in id
 *      order through one cursor, which finds a key on the leaf it already holds without a
 *      search from the root; ids above the DB's last key are not looked up at all;
 *   2. while the batch is judged in arrival order (so that every rule that depends on
 *      order, the watermark, duplicates inside the batch, reversals, sees what it saw
 *      before), an accepted id is *claimed* in an in-memory table of pending records;
 *   3. zt_dd_flush(): the pending records are written in id order through one cursor,
 *      appended where they sort after the DB's last key (time-ordered ids).
 *
 * The pending table lives in struct zt_store and is reused; nothing is allocated per event.
 */
#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

static uint32_t
id_hash(const uint8_t id[ZT_EVENT_ID_LEN])
{
	uint64_t h = (be64_get(id) ^ be64_get(id + 8)) * 0x9E3779B97F4A7C15ull;
	return (uint32_t)(h >> 32);
}

/* Makes room for n claims and empties the table. @return 0 or -ENOMEM. */
int
zt_dd_begin(struct zt_store *s, size_t n)
{
	size_t cap = 64;
	while (cap < 2 * n)
		cap *= 2;
	if (n > UINT32_MAX / 4)
		return -ENOMEM;
	if (n > s->pend_cap) {
		struct dd_pend *p = realloc(s->pend, n * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		s->pend = p;
		s->pend_cap = n;
	}
	if (cap > s->pslot_cap) {
		uint32_t *h = realloc(s->pslot, cap * sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		s->pslot = h;
		s->pslot_cap = cap;
	}
	/* sized to this batch, so that a small batch after a large one clears little */
	s->pslot_mask = cap - 1;
	memset(s->pslot, 0, cap * sizeof(*s->pslot));
	s->npend = 0;
	return 0;
}

/* The pending record of id, live or dropped, or NULL. */
static struct dd_pend *
pend_find(const struct zt_store *s, const uint8_t id[ZT_EVENT_ID_LEN], uint32_t *ret_slot)
{
	size_t mask = s->pslot_mask, j = id_hash(id) & mask;
	for (; s->pslot[j] != 0; j = (j + 1) & mask) {
		struct dd_pend *p = &s->pend[s->pslot[j] - 1];
		if (memcmp(p->id, id, ZT_EVENT_ID_LEN) == 0)
			return p;
	}
	*ret_slot = (uint32_t)j;
	return NULL;
}

/* Whether an id sorts after the DB's last key (and so is not in it). */
static bool
after_tail(MDB_txn *txn, MDB_dbi dbi, const struct tail *t, const uint8_t *id)
{
	MDB_val k = zt_mval(ZT_EVENT_ID_LEN, id);
	return zt_tail_after(txn, dbi, t, &k);
}

static int
cand_cmp(const void *a, const void *b)
{
	const struct dd_cand *x = a, *y = b;
	int c = memcmp(x->id, y->id, ZT_EVENT_ID_LEN);
	return c != 0 ? c : (x->entry > y->entry) - (x->entry < y->entry);
}

/* Puts the candidates in id order; already-ordered batches (time-ordered ids) skip the sort. */
static void
sort_candidates(struct dd_cand *c, size_t m)
{
	for (size_t k = 1; k < m; k++)
		if (cand_cmp(&c[k - 1], &c[k]) > 0) {
			qsort(c, m, sizeof(*c), cand_cmp);
			return;
		}
}

/*
 * Looks up, in id order, whether each candidate's id (entries the validator passed) is in
 * the dedup DB; s->dd_exists[i] says so. @return 0 or a negative error.
 */
int
zt_dd_prefetch(
    struct zt_store *s, MDB_txn *txn, const struct tail *t, const struct zt_entry *e, size_t n)
{
	struct dd_cand *c = s->cand;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		s->dd_exists[i] = 0;
		if (e[i].reason_in != ZT_REJECT_NONE)
			continue;
		memcpy(c[m].id, e[i].ev.id, ZT_EVENT_ID_LEN);
		c[m++].entry = (uint32_t)i;
	}
	sort_candidates(c, m);
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, s->dedup, &cur);
	if (rc != 0)
		return zt_wr_err(rc);
	for (size_t k = 0; rc == 0 && k < m; k++) {
		if (k > 0 && memcmp(c[k].id, c[k - 1].id, ZT_EVENT_ID_LEN) == 0) {
			s->dd_exists[c[k].entry] = s->dd_exists[c[k - 1].entry];
			continue;
		}
		if (after_tail(txn, s->dedup, t, c[k].id))
			break; /* and every later id too */
		MDB_val key = zt_mval(ZT_EVENT_ID_LEN, c[k].id), v;
		rc = mdb_cursor_get(cur, &key, &v, MDB_SET);
		s->dd_exists[c[k].entry] = rc == 0;
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	mdb_cursor_close(cur);
	return zt_wr_err(rc);
}

/*
 * Claims id for entry i with its record: 1 if the id is taken (in the DB, or claimed earlier
 * in the batch), 0 if claimed now, -ENOMEM.
 */
int
zt_dd_claim(
    struct zt_store *s, size_t i, const uint8_t id[ZT_EVENT_ID_LEN], const uint8_t *rec, size_t len)
{
	uint32_t slot = 0;
	if (s->dd_exists[i])
		return 1;
	struct dd_pend *p = pend_find(s, id, &slot);
	if (p != NULL && p->live)
		return 1;
	if (p == NULL) {
		if (s->npend == s->pend_cap)
			return -ENOMEM; /* zt_dd_begin() sized it for the batch */
		p = &s->pend[s->npend++];
		memcpy(p->id, id, ZT_EVENT_ID_LEN);
		s->pslot[slot] = (uint32_t)s->npend;
	}
	memcpy(p->rec, rec, len);
	p->len = (uint8_t)len;
	p->live = 1;
	return 0;
}

/* Takes back a claim of this batch (its event was rejected after all). */
void
zt_dd_unclaim(struct zt_store *s, const uint8_t id[ZT_EVENT_ID_LEN])
{
	uint32_t slot;
	struct dd_pend *p = pend_find(s, id, &slot);
	if (p != NULL)
		p->live = 0;
}

/* The dedup record of id, claimed in this batch or stored: 0 found, 1 not, or an error. */
int
zt_dd_get(struct zt_store *s, MDB_txn *txn, const uint8_t id[ZT_EVENT_ID_LEN], struct dd_rec *ret)
{
	uint32_t slot;
	struct dd_pend *p = pend_find(s, id, &slot);
	MDB_val v;
	if (p != NULL && p->live) {
		v = (MDB_val){p->len, p->rec};
		return zt_dd_decode(&v, ret);
	}
	MDB_val k = zt_mval(ZT_EVENT_ID_LEN, id);
	int rc = mdb_get(txn, s->dedup, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return zt_wr_err(rc);
	return zt_dd_decode(&v, ret);
}

/* Replaces the record of an id that zt_dd_get() found (a reversed original). */
int
zt_dd_update(struct zt_store *s, MDB_txn *txn, const uint8_t id[ZT_EVENT_ID_LEN],
    const uint8_t *rec, size_t len)
{
	uint32_t slot;
	struct dd_pend *p = pend_find(s, id, &slot);
	if (p != NULL && p->live) {
		memcpy(p->rec, rec, len);
		p->len = (uint8_t)len;
		return 0;
	}
	MDB_val k = zt_mval(ZT_EVENT_ID_LEN, id), v = {len, (void *)(uintptr_t)rec};
	return zt_wr_err(mdb_put(txn, s->dedup, &k, &v, 0));
}

static int
pend_cmp(const void *a, const void *b)
{
	return memcmp(
	    ((const struct dd_pend *)a)->id, ((const struct dd_pend *)b)->id, ZT_EVENT_ID_LEN);
}

/*
 * Writes the live claims in id order through one cursor, appending those above the DB's
 * last key. An id the DB already holds here means the prefetch was wrong: ZT_E_CORRUPT.
 * The claim table is unusable afterwards (sorted in place).
 */
int
zt_dd_flush(struct zt_store *s, MDB_txn *txn, const struct tail *t)
{
	bool sorted = true;
	for (size_t k = 1; k < s->npend && sorted; k++)
		sorted = pend_cmp(&s->pend[k - 1], &s->pend[k]) < 0;
	if (!sorted)
		qsort(s->pend, s->npend, sizeof(*s->pend), pend_cmp);
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, s->dedup, &cur);
	if (rc != 0)
		return zt_wr_err(rc);
	bool append = false;
	for (size_t k = 0; rc == 0 && k < s->npend; k++) {
		const struct dd_pend *p = &s->pend[k];
		if (!p->live)
			continue;
		append = append || after_tail(txn, s->dedup, t, p->id);
		MDB_val key = zt_mval(ZT_EVENT_ID_LEN, p->id),
		        v = {p->len, (void *)(uintptr_t)p->rec};
		rc = mdb_cursor_put(cur, &key, &v, append ? MDB_APPEND : MDB_NOOVERWRITE);
	}
	mdb_cursor_close(cur);
	return rc == MDB_KEYEXIST ? ZT_E_CORRUPT : zt_wr_err(rc);
}
