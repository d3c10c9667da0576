/*
 * verify.c: `zonetally verify`: recomputes every roll-up of a store from its leaves and
 * compares. A leaf is a zone's day total for one direction and one mode; every other total
 * (province, nation; month, year, all; all directions; all modes) must be exactly the sum
 * of the leaves under it, and no total may exist that no leaf explains.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* One expected total, keyed by its encoded key; open addressing, linear probing. */
struct vslot {
	uint8_t key[ZT_TKEY_LEN];
	bool used;
	bool seen; /* a stored total matched it */
	struct zt_totals t;
};

struct vtab {
	struct vslot *s;
	size_t cap, used; /* cap is a power of two */
};

static size_t
vhash(const uint8_t *k)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (int i = 0; i < ZT_TKEY_LEN; i++)
		h = (h ^ k[i]) * 1099511628211ULL;
	return (size_t)h;
}

static struct vslot *
vfind(struct vtab *t, const uint8_t *k)
{
	size_t i = vhash(k) & (t->cap - 1);

	while (t->s[i].used && memcmp(t->s[i].key, k, ZT_TKEY_LEN) != 0)
		i = (i + 1) & (t->cap - 1);
	return &t->s[i];
}

static int
vgrow(struct vtab *t)
{
	struct vtab n = {.cap = t->cap ? t->cap * 2 : 4096};

	if ((n.s = calloc(n.cap, sizeof(*n.s))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->s[i].used)
			continue;
		*vfind(&n, t->s[i].key) = t->s[i];
		n.used++;
	}
	free(t->s);
	*t = n;
	return 0;
}

/* Adds leaf totals lt to the expected total at key k. */
static int
vadd(struct vtab *t, const struct zt_tkey *k, const struct zt_totals *lt)
{
	uint8_t key[ZT_TKEY_LEN];

	if (t->used * 2 >= t->cap && vgrow(t) < 0)
		return -ENOMEM;
	zt_tkey_encode(k, key);
	struct vslot *s = vfind(t, key);
	if (!s->used) {
		memcpy(s->key, key, ZT_TKEY_LEN);
		s->used = true;
		t->used++;
	}
	s->t.events += lt->events;
	s->t.value_fen += lt->value_fen;
	s->t.items += lt->items;
	s->t.reversals += lt->reversals;
	return 0;
}

/* Spreads one leaf over the 3 levels x 4 granularities x 2 directions x 2 modes it feeds. */
static int
spread(const struct zt_tkey *leaf, const struct zt_totals *t, void *arg)
{
	static const uint8_t level[] = {ZT_LEVEL_ZONE, ZT_LEVEL_PROVINCE, ZT_LEVEL_NATION};
	const uint32_t code[] = {leaf->code, leaf->code / 10000 * 10000, 0};
	const uint32_t bucket[] = {leaf->bucket, leaf->bucket / 100, leaf->bucket / 10000, 0};
	static const uint8_t gran[] = {ZT_GRAN_DAY, ZT_GRAN_MONTH, ZT_GRAN_YEAR, ZT_GRAN_ALL};

	for (int l = 0; l < 3; l++)
		for (int g = 0; g < 4; g++)
			for (int dir = 0; dir < 2; dir++)
				for (int m = 0; m < 2; m++) {
					struct zt_tkey k = {.level = level[l],
					    .code = code[l],
					    .gran = gran[g],
					    .bucket = bucket[g],
					    .direction = dir ? leaf->direction : ZT_DIR_ALL,
					    .mode = m ? leaf->mode : ZT_MODE_ALL};
					if (vadd(arg, &k, t) < 0)
						return -ENOMEM;
				}
	return 0;
}

static int
collect_leaf(const struct zt_tkey *k, const struct zt_totals *t, void *arg)
{
	if (k->level != ZT_LEVEL_ZONE || k->gran != ZT_GRAN_DAY || k->direction == ZT_DIR_ALL ||
	    k->mode == ZT_MODE_ALL)
		return 0;
	return spread(k, t, arg);
}

struct vcheck {
	struct vtab *tab;
	struct zt_verify_report *rep;
};

static bool
totals_eq(const struct zt_totals *a, const struct zt_totals *b)
{
	return a->events == b->events && a->value_fen == b->value_fen && a->items == b->items &&
	    a->reversals == b->reversals;
}

/* Compares one stored total with what its leaves say. */
static int
check_total(const struct zt_tkey *k, const struct zt_totals *t, void *arg)
{
	struct vcheck *c = arg;
	uint8_t key[ZT_TKEY_LEN];
	static const struct zt_totals zero;

	zt_tkey_encode(k, key);
	struct vslot *s = vfind(c->tab, key);
	c->rep->totals++;
	if (s->used)
		s->seen = true;
	if (totals_eq(t, s->used ? &s->t : &zero))
		return 0;
	if (c->rep->mismatches++ == 0)
		c->rep->first_bad = *k;
	return 0;
}

int
zt_store_verify(struct zt_store *s, struct zt_verify_report *ret)
{
	struct zt_tkey lo = {0},
	               hi = {.level = 0xff,
	                   .code = UINT32_MAX,
	                   .gran = 0xff,
	                   .bucket = UINT32_MAX,
	                   .direction = 0xff,
	                   .mode = 0xff};
	struct vtab tab = {0};
	struct zt_verify_report rep = {0};
	struct vcheck c = {.tab = &tab, .rep = &rep};
	int r = vgrow(&tab);

	if (r == 0)
		r = zt_store_read_begin(s);
	if (r < 0) {
		free(tab.s);
		return r;
	}
	r = zt_store_scan(s, &lo, &hi, collect_leaf, &tab);
	if (r == 0)
		r = zt_store_scan(s, &lo, &hi, check_total, &c);
	zt_store_read_end(s);
	for (size_t i = 0; r == 0 && i < tab.cap; i++)
		if (tab.s[i].used && !tab.s[i].seen && rep.missing++ == 0 && rep.mismatches == 0)
			(void)zt_tkey_decode(tab.s[i].key, ZT_TKEY_LEN, &rep.first_bad);
	free(tab.s);
	if (r < 0)
		return r;
	*ret = rep;
	return rep.mismatches == 0 && rep.missing == 0 ? 0 : ZT_E_CORRUPT;
}
