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
 * Every lookup of an id in the batch goes through the candidates sorted for step 1: an
 * entry's own id by its run number, any other id (a reversal's original) by binary search,
 * so no shape of batch (ids that collide in a hash, one id resent n times, n reversals of
 * unknown originals) costs more than O(n log n). The tables live in struct zt_store and are
 * reused; nothing is allocated per event.
 */
#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

/* Makes room for the claims of n entries and empties the table. @return 0 or -ENOMEM. */
int
zt_dd_begin(struct zt_store *s, size_t n)
{
	if (n > UINT32_MAX / 4)
		return -ENOMEM;
	if (n > s->pend_cap) {
		struct dd_pend *p = realloc(s->pend, n * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		s->pend = p;
		s->pend_cap = n;
	}
	if (n > s->run_pend_cap) {
		uint32_t *r = realloc(s->run_pend, n * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		s->run_pend = r;
		s->run_pend_cap = n;
	}
	s->npend = 0;
	s->ncand = 0;
	return 0;
}

/*
 * The index in s->cand of the first candidate with this id, or UINT32_MAX if no entry of
 * the batch has it: a binary search, each comparison one step of s->steps.
 */
static uint32_t
run_find(struct zt_store *s, const uint8_t id[ZT_EVENT_ID_LEN])
{
	size_t lo = 0, hi = s->ncand;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		s->steps++;
		if (memcmp(s->cand[mid].id, id, ZT_EVENT_ID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->ncand && memcmp(s->cand[lo].id, id, ZT_EVENT_ID_LEN) == 0)
		return (uint32_t)lo;
	return UINT32_MAX;
}

/* The live claim of the id whose first candidate is run, or NULL. */
static struct dd_pend *
run_claim(const struct zt_store *s, uint32_t run)
{
	if (run == UINT32_MAX || s->run_pend[run] == 0)
		return NULL;
	struct dd_pend *p = &s->pend[s->run_pend[run] - 1];
	return p->live ? p : NULL;
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
 * Numbers the runs of equal ids in the sorted candidates: each entry learns its run
 * (s->run), each run starts with no claim and records its last declaration, so that every
 * later lookup of an id in the batch is a binary search or an index, never a scan.
 */
static void
number_runs(struct zt_store *s, const struct zt_entry *e)
{
	struct dd_cand *c = s->cand;
	uint32_t start = 0;
	for (size_t k = 0; k < s->ncand; k++) {
		if (k == 0 || memcmp(c[k].id, c[k - 1].id, ZT_EVENT_ID_LEN) != 0) {
			start = (uint32_t)k;
			c[k].last_decl = 0;
			s->run_pend[k] = 0;
		}
		s->run[c[k].entry] = start;
		if (e[c[k].entry].ev.kind == ZT_KIND_DECLARATION)
			c[start].last_decl = c[k].entry + 1; /* entries ascend within a run */
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
	s->ncand = m;
	number_runs(s, e);
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

/* Whether an entry after entry i is a declaration with this id (a candidate). */
bool
zt_dd_decl_after(struct zt_store *s, const uint8_t id[ZT_EVENT_ID_LEN], size_t i)
{
	uint32_t run = run_find(s, id);
	return run != UINT32_MAX && s->cand[run].last_decl > i + 1;
}

/*
 * Claims entry i's id (a candidate's) with its record: 1 if the id is taken (in the DB, or
 * claimed earlier in the batch), 0 if claimed now, -ENOMEM.
 */
int
zt_dd_claim(
    struct zt_store *s, size_t i, const uint8_t id[ZT_EVENT_ID_LEN], const uint8_t *rec, size_t len)
{
	uint32_t run = s->run[i];
	s->steps++;
	if (s->dd_exists[i] || run_claim(s, run) != NULL)
		return 1;
	struct dd_pend *p;
	if (s->run_pend[run] != 0) {
		p = &s->pend[s->run_pend[run] - 1]; /* taken back earlier: reuse it */
	} else {
		if (s->npend == s->pend_cap)
			return -ENOMEM; /* zt_dd_begin() sized it for the batch */
		p = &s->pend[s->npend++];
		memcpy(p->id, id, ZT_EVENT_ID_LEN);
		s->run_pend[run] = (uint32_t)s->npend;
	}
	memcpy(p->rec, rec, len);
	p->len = (uint8_t)len;
	p->live = 1;
	return 0;
}

/* Takes back entry i's claim (its event was rejected after all). */
void
zt_dd_unclaim(struct zt_store *s, size_t i)
{
	struct dd_pend *p = run_claim(s, s->run[i]);
	if (p != NULL)
		p->live = 0;
}

/* The dedup record of id, claimed in this batch or stored: 0 found, 1 not, or an error. */
int
zt_dd_get(struct zt_store *s, MDB_txn *txn, const uint8_t id[ZT_EVENT_ID_LEN], struct dd_rec *ret)
{
	struct dd_pend *p = run_claim(s, run_find(s, id));
	MDB_val v;
	if (p != NULL) {
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
	struct dd_pend *p = run_claim(s, run_find(s, id));
	if (p != NULL) {
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
