/*
 * apply_tab.c: the in-memory tables of one zt_store_apply() transaction: coalesced totals
 * (open addressing on the 12-byte key, absolute values read once from LMDB and written
 * once, in key order), the publishers the batch touched, and the dedup record codec.
 * The tables live in struct zt_store and are reused: a generation number invalidates them
 * in O(1) at the start of every attempt, so no allocation happens per event.
 */
#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

#define TAB_MIN  4096u
#define PTAB_MIN 64u

static uint32_t
key_hash(const uint8_t k[ZT_TKEY_LEN])
{
	uint64_t a = be64_get(k), b = be32_get(k + 8);
	uint64_t h = (a ^ (b << 29) ^ (b >> 3)) * 0x9E3779B97F4A7C15ull;
	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ull;
	return (uint32_t)(h ^ (h >> 32));
}

void
zt_tab_begin(struct zt_store *s)
{
	if (++s->gen == 0) {
		/* wrapped after 2^32 batches: clear so that no stale slot looks current */
		for (uint32_t i = 0; i < s->tab_cap; i++)
			s->tab[i].gen = 0;
		s->gen = 1;
	}
	if (++s->pgen == 0) {
		for (uint32_t i = 0; i < s->ptab_cap; i++)
			s->ptab[i].gen = 0;
		s->pgen = 1;
	}
	s->tab_used = 0;
	s->ptab_used = 0;
	s->ndirty = 0;
	s->changed_ok = false;
	zt_cells_begin(s);
}

/* Moves the batch's slots into a table of new_cap slots (and a list of new_cap / 2). */
static int
tab_rehash(struct zt_store *s, uint32_t new_cap)
{
	struct tslot *nt = calloc(new_cap, sizeof(*nt));
	uint32_t *nl = malloc(new_cap / 2 * sizeof(*nl));
	if (nt == NULL || nl == NULL) {
		free(nt);
		free(nl);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < s->tab_used; k++) {
		const struct tslot *t = &s->tab[s->tab_list[k]];
		uint32_t j = key_hash(t->key) & (new_cap - 1);
		while (++s->steps && nt[j].gen == s->gen)
			j = (j + 1) & (new_cap - 1);
		nt[j] = *t;
		nl[k] = j;
	}
	free(s->tab);
	free(s->tab_list);
	s->tab = nt;
	s->tab_list = nl;
	s->tab_cap = new_cap;
	return 0;
}

/* Makes room for `more` new keys at load <= 1/2, so slot numbers stay valid meanwhile. */
int
zt_tab_reserve(struct zt_store *s, uint32_t more)
{
	uint64_t need = ((uint64_t)s->tab_used + more) * 2;
	if (need <= s->tab_cap)
		return 0;
	uint64_t cap = s->tab_cap ? s->tab_cap : TAB_MIN;
	while (cap < need)
		cap *= 2;
	if (cap > (1u << 30))
		return -ENOMEM;
	return tab_rehash(s, (uint32_t)cap);
}

/* Finds or creates the slot of key (zt_tab_reserve first); a new slot holds zero deltas. */
static uint32_t
tab_slot(struct zt_store *s, const uint8_t key[ZT_TKEY_LEN])
{
	uint32_t mask = s->tab_cap - 1, j = key_hash(key) & mask;
	for (; ++s->steps && s->tab[j].gen == s->gen; j = (j + 1) & mask)
		if (memcmp(s->tab[j].key, key, ZT_TKEY_LEN) == 0)
			return j;
	struct tslot *t = &s->tab[j];
	memcpy(t->key, key, ZT_TKEY_LEN);
	memset(t->v, 0, sizeof(t->v));
	t->gen = s->gen;
	t->changed = 0;
	t->loaded = 0;
	s->tab_list[s->tab_used++] = j; /* zt_tab_reserve() kept used below cap / 2 */
	return j;
}

/* Adds the stored value v (32 bytes, or absent) to the slot's deltas: they become absolute. */
static int
tab_load_val(struct tslot *t, const MDB_val *v)
{
	if (v != NULL) {
		struct zt_totals x;
		if (v->mv_size != 32)
			return ZT_E_CORRUPT;
		zt_totals_decode(v->mv_data, &x);
		const int64_t stored[4] = {x.events, x.value_fen, x.items, x.reversals};
		for (int f = 0; f < 4; f++)
			if (__builtin_add_overflow(t->v[f], stored[f], &t->v[f]))
				return ZT_E_CORRUPT; /* coalesce_safe() ruled this out */
	}
	t->loaded = 1;
	return 0;
}

/* Finds the slot of key with its absolute values, reading the stored ones on first touch
 * (zt_tab_reserve first). */
int
zt_tab_get(struct zt_store *s, MDB_txn *txn, const uint8_t key[ZT_TKEY_LEN], uint32_t *ret_slot)
{
	uint32_t j = tab_slot(s, key);
	struct tslot *t = &s->tab[j];
	*ret_slot = j;
	if (t->loaded)
		return 0;
	MDB_val k = zt_mval(ZT_TKEY_LEN, key), v;
	int rc = mdb_get(txn, s->totals, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return zt_wr_err(rc);
	return tab_load_val(t, rc == 0 ? &v : NULL);
}

/*
 * Adds d to the totals of keys without reading them: the slots gather deltas that
 * zt_tab_flush() adds to the stored values in one sorted pass. For batches that cannot
 * overflow (coalesce_safe() in apply.c). @return 0 or -ENOMEM.
 */
int
zt_tab_add_deltas(
    struct zt_store *s, uint8_t keys[ZT_EVENT_TOTALS][ZT_TKEY_LEN], const int64_t d[4])
{
	int rc = zt_tab_reserve(s, ZT_EVENT_TOTALS);
	if (rc < 0)
		return rc;
	for (int i = 0; i < ZT_EVENT_TOTALS; i++) {
		struct tslot *t = &s->tab[tab_slot(s, keys[i])];
		for (int f = 0; f < 4; f++)
			t->v[f] += d[f];
		t->changed = 1;
	}
	return 0;
}

/*
 * Adds d to the totals of keys, or to none of them if one would overflow.
 * @return 0 applied; 1 overflow (nothing changed); negative error.
 */
int
zt_tab_add(struct zt_store *s, MDB_txn *txn, uint8_t keys[ZT_EVENT_TOTALS][ZT_TKEY_LEN],
    const int64_t d[4])
{
	uint32_t slot[ZT_EVENT_TOTALS];
	int rc = zt_tab_reserve(s, ZT_EVENT_TOTALS);
	for (int i = 0; rc == 0 && i < ZT_EVENT_TOTALS; i++)
		rc = zt_tab_get(s, txn, keys[i], &slot[i]);
	if (rc < 0)
		return rc;
	for (int i = 0; i < ZT_EVENT_TOTALS; i++)
		for (int f = 0; f < 4; f++) {
			int64_t r;
			if (__builtin_add_overflow(s->tab[slot[i]].v[f], d[f], &r))
				return 1;
		}
	for (int i = 0; i < ZT_EVENT_TOTALS; i++) {
		struct tslot *t = &s->tab[slot[i]];
		for (int f = 0; f < 4; f++)
			t->v[f] += d[f];
		t->changed = 1;
	}
	return 0;
}

/* Key order as LMDB's memcmp sees it, on two big-endian words instead of 12 bytes. */
static int
dirty_cmp(const void *a, const void *b)
{
	const uint8_t *x = ((const struct tdirty *)a)->key, *y = ((const struct tdirty *)b)->key;
	uint64_t xh = be64_get(x), yh = be64_get(y);
	if (xh != yh)
		return xh < yh ? -1 : 1;
	uint32_t xl = be32_get(x + 8), yl = be32_get(y + 8);
	return xl < yl ? -1 : xl > yl;
}

/* Queues the changed slots in key order. @return the count, or -ENOMEM. */
static long
dirty_sorted(struct zt_store *s)
{
	if (s->dirty_cap < s->tab_used) {
		struct tdirty *d = realloc(s->dirty, s->tab_used * sizeof(*d));
		if (d == NULL)
			return -ENOMEM;
		s->dirty = d;
		s->dirty_cap = s->tab_used;
	}
	uint32_t n = 0;
	for (uint32_t k = 0; k < s->tab_used && ++s->steps; k++) {
		uint32_t i = s->tab_list[k];
		if (s->tab[i].changed) {
			memcpy(s->dirty[n].key, s->tab[i].key, ZT_TKEY_LEN);
			s->dirty[n++].slot = i;
		}
	}
	if (n > 1)
		qsort(s->dirty, n, sizeof(*s->dirty), dirty_cmp);
	return n;
}

/* Reads (if only deltas are known) and writes one changed total at the cursor. */
static int
flush_one(struct zt_store *s, MDB_cursor *cur, const struct tdirty *dt)
{
	struct tslot *t = &s->tab[dt->slot];
	MDB_val k = zt_mval(ZT_TKEY_LEN, dt->key), v;
	unsigned flags = 0;
	if (!t->loaded) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return zt_wr_err(rc);
		if (rc == 0)
			flags = MDB_CURRENT; /* the cursor is on it: no second search */
		if ((rc = tab_load_val(t, rc == 0 ? &v : NULL)) < 0)
			return rc;
	}
	uint8_t val[32];
	zt_totals_encode(t->v, val);
	v = (MDB_val){sizeof(val), val};
	return zt_wr_err(mdb_cursor_put(cur, &k, &v, flags));
}

/*
 * Writes every changed total once, in key order, through one cursor: the B-tree pages are
 * visited left to right, and a key on the page the cursor already holds is found without a
 * search from the root. Totals that gathered only deltas are read in the same pass.
 */
int
zt_tab_flush(struct zt_store *s, MDB_txn *txn, uint32_t *ret_written)
{
	long n = dirty_sorted(s);
	MDB_cursor *cur;
	if (n < 0)
		return (int)n;
	int rc = mdb_cursor_open(txn, s->totals, &cur);
	if (rc != 0)
		return zt_wr_err(rc);
	for (long i = 0; rc == 0 && i < n; i++)
		rc = flush_one(s, cur, &s->dirty[i]);
	mdb_cursor_close(cur);
	if (rc != 0)
		return rc;
	s->ndirty = (uint32_t)n;
	*ret_written = (uint32_t)n;
	return 0;
}

static int
ptab_rehash(struct zt_store *s, uint32_t new_cap)
{
	struct pslot *nt = calloc(new_cap, sizeof(*nt));
	uint32_t *nl = malloc(new_cap / 2 * sizeof(*nl));
	if (nt == NULL || nl == NULL) {
		free(nt);
		free(nl);
		return -ENOMEM;
	}
	zt_hash_key_init(s);
	for (uint32_t k = 0; k < s->ptab_used; k++) {
		const struct pslot *p = &s->ptab[s->ptab_list[k]];
		uint32_t j = p->hash & (new_cap - 1);
		while (++s->steps && nt[j].gen == s->pgen)
			j = (j + 1) & (new_cap - 1);
		nt[j] = *p;
		nl[k] = j;
	}
	free(s->ptab);
	free(s->ptab_list);
	s->ptab = nt;
	s->ptab_list = nl;
	s->ptab_cap = new_cap;
	return 0;
}

/* Loads a publisher's stored record, or a fresh one. */
static int
pub_load(struct zt_store *s, MDB_txn *txn, const char *id, size_t len, struct zt_publisher *p)
{
	MDB_val k = zt_mval(len, id), v;
	int rc = mdb_get(txn, s->pubs, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*p = (struct zt_publisher){0};
		memcpy(p->id, id, len);
		return 0;
	}
	if (rc != 0)
		return zt_wr_err(rc);
	if (v.mv_size != ZT_PUB_REC_LEN && v.mv_size != ZT_PUB_REC_V1_LEN)
		return ZT_E_CORRUPT;
	zt_publisher_decode(&k, &v, p);
	return 0;
}

/*
 * Returns the batch's record of publisher `id` (1..ZT_PUBLISHER_MAX bytes, NUL-terminated),
 * loading it on first touch. The pointer is valid until the next zt_pub_get().
 */
int
zt_pub_get(struct zt_store *s, MDB_txn *txn, const char *id, struct zt_publisher **ret)
{
	size_t len = strlen(id);
	if ((uint64_t)(s->ptab_used + 1) * 2 > s->ptab_cap) {
		int rc = ptab_rehash(s, s->ptab_cap ? s->ptab_cap * 2 : PTAB_MIN);
		if (rc < 0)
			return rc;
	}
	/* keyed: publisher ids are the peers' choice (see hash.c) */
	uint32_t h = (uint32_t)zt_siphash(s->hash_key, id, len), mask = s->ptab_cap - 1;
	uint32_t j = h & mask;
	for (; ++s->steps && s->ptab[j].gen == s->pgen; j = (j + 1) & mask)
		if (s->ptab[j].hash == h && strcmp(s->ptab[j].p.id, id) == 0) {
			*ret = &s->ptab[j].p;
			return 0;
		}
	struct pslot *slot = &s->ptab[j];
	int rc = pub_load(s, txn, id, len, &slot->p);
	if (rc < 0)
		return rc;
	slot->gen = s->pgen;
	slot->hash = h;
	s->ptab_list[s->ptab_used++] = j;
	*ret = &slot->p;
	return 0;
}

/* Writes back every publisher the batch touched, stamped with the commit's wall clock. */
int
zt_pub_flush(struct zt_store *s, MDB_txn *txn, int64_t now_ms)
{
	for (uint32_t n = 0; n < s->ptab_used; n++) {
		struct pslot *slot = &s->ptab[s->ptab_list[n]];
		uint8_t rec[ZT_PUB_REC_LEN];
		slot->p.last_seen_ms = now_ms;
		zt_publisher_encode(&slot->p, rec);
		MDB_val k = {strlen(slot->p.id), slot->p.id}, v = {sizeof(rec), rec};
		int rc = mdb_put(txn, s->pubs, &k, &v, 0);
		if (rc != 0)
			return zt_wr_err(rc);
	}
	return 0;
}

void
zt_dd_encode(const struct dd_rec *r, uint8_t out[ZT_DEDUP_ORIG_LEN], size_t *ret_len)
{
	out[0] = (uint8_t)(r->state | r->direction << 2 | r->mode << 4);
	be32_put(out + 1, r->day);
	if (r->state == DD_REVERSAL) {
		*ret_len = ZT_DEDUP_HDR_LEN;
		return;
	}
	be32_put(out + 5, r->zone);
	be32_put(out + 9, r->items);
	be64_put(out + 13, (uint64_t)r->value_fen);
	be64_put(out + 21, (uint64_t)r->declared_at_ms);
	*ret_len = ZT_DEDUP_ORIG_LEN;
}

int
zt_dd_decode(const MDB_val *v, struct dd_rec *ret)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size != ZT_DEDUP_HDR_LEN && v->mv_size != ZT_DEDUP_ORIG_LEN)
		return ZT_E_CORRUPT;
	*ret = (struct dd_rec){
	    .state = p[0] & 3,
	    .direction = (p[0] >> 2) & 3,
	    .mode = (p[0] >> 4) & 7,
	    .day = be32_get(p + 1),
	};
	if ((ret->state == DD_REVERSAL) != (v->mv_size == ZT_DEDUP_HDR_LEN) || ret->state > 2)
		return ZT_E_CORRUPT;
	if (ret->state == DD_REVERSAL)
		return 0;
	ret->zone = be32_get(p + 5);
	ret->items = be32_get(p + 9);
	ret->value_fen = (int64_t)be64_get(p + 13);
	ret->declared_at_ms = (int64_t)be64_get(p + 21);
	return 0;
}
