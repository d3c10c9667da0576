/*
 * apply_cell.c: the 48 totals of an event, and the cells that coalesce a batch's deltas
 * before they reach them. Every event of one zone, CST day, direction and mode touches the
 * same 48 totals (3 levels x 4 granularities x 2 directions x 2 modes), and a batch holds
 * far fewer such groups than events (165 zones x 5 modes x 2 directions a day at most), so
 * an event adds its deltas to its cell (one lookup) and each cell is spread over its 48
 * totals once, when the batch is flushed.
 */
#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

#define CELL_MIN 1024u

/* zone < 2^20 (six digits), day YYYYMMDD < 2^27, direction < 4, mode < 8: one word. */
static uint64_t
cell_key(uint32_t zone, uint32_t day, uint8_t dir, uint8_t mode)
{
	return (uint64_t)zone << 32 | (uint64_t)day << 5 | (uint64_t)(dir & 3) << 3 | (mode & 7);
}

static uint32_t
cell_hash(uint64_t k)
{
	k *= 0x9E3779B97F4A7C15ull;
	return (uint32_t)(k >> 32);
}

/* Fills the 48 keys of the totals that an event of (zone, day, dir, mode) adds to. */
void
zt_event_keys(uint32_t zone, uint32_t day, uint8_t dir, uint8_t mode,
    uint8_t keys[ZT_EVENT_TOTALS][ZT_TKEY_LEN])
{
	const uint32_t codes[ZT_LEVEL__COUNT] = {ZT_NATION_CODE, zt_province_of(zone), zone};
	const uint8_t dirs[2] = {dir, ZT_DIR_ALL}, modes[2] = {mode, ZT_MODE_ALL};
	const uint32_t buckets[ZT_GRAN__COUNT] = {0, day / 10000, day / 100, day};
	int n = 0;
	for (uint8_t l = 0; l < ZT_LEVEL__COUNT; l++)
		for (uint8_t g = 0; g < ZT_GRAN__COUNT; g++)
			for (int d = 0; d < 2; d++)
				for (int m = 0; m < 2; m++) {
					struct zt_tkey k = {
					    l, codes[l], g, buckets[g], dirs[d], modes[m]};
					zt_tkey_encode(&k, keys[n++]);
				}
}

void
zt_cells_begin(struct zt_store *s)
{
	if (++s->cgen == 0) {
		for (uint32_t i = 0; i < s->cell_cap; i++)
			s->cells[i].gen = 0;
		s->cgen = 1;
	}
	s->cell_used = 0;
}

/* Moves the current generation's cells into a table of new_cap slots. */
static int
cells_rehash(struct zt_store *s, uint32_t new_cap)
{
	struct cell *nc = calloc(new_cap, sizeof(*nc));
	uint32_t *nl = malloc(new_cap / 2 * sizeof(*nl));
	if (nc == NULL || nl == NULL) {
		free(nc);
		free(nl);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < s->cell_used; k++) {
		const struct cell *c = &s->cells[s->cell_list[k]];
		uint32_t j = cell_hash(c->key) & (new_cap - 1);
		while (++s->steps && nc[j].gen == s->cgen)
			j = (j + 1) & (new_cap - 1);
		nc[j] = *c;
		nl[k] = j;
	}
	free(s->cells);
	free(s->cell_list);
	s->cells = nc;
	s->cell_list = nl;
	s->cell_cap = new_cap;
	return 0;
}

/* Adds an event's deltas to its cell. @return 0 or -ENOMEM. */
int
zt_cells_add(struct zt_store *s, const struct zt_event *ev, uint32_t day, const int64_t d[4])
{
	if ((uint64_t)(s->cell_used + 1) * 2 > s->cell_cap) {
		int rc = cells_rehash(s, s->cell_cap ? s->cell_cap * 2 : CELL_MIN);
		if (rc < 0)
			return rc;
	}
	uint64_t key = cell_key(ev->zone, day, ev->direction, ev->mode);
	uint32_t mask = s->cell_cap - 1, j = cell_hash(key) & mask;
	for (; ++s->steps && s->cells[j].gen == s->cgen; j = (j + 1) & mask)
		if (s->cells[j].key == key)
			break;
	struct cell *c = &s->cells[j];
	if (c->gen != s->cgen) {
		*c = (struct cell){.key = key, .gen = s->cgen};
		s->cell_list[s->cell_used++] = j;
	}
	for (int f = 0; f < 4; f++)
		c->d[f] += d[f];
	return 0;
}

/* Spreads every cell's deltas over its 48 totals; zt_tab_flush() then adds them to the
 * stored values (coalesce_safe() in apply.c checked that none can overflow). */
int
zt_cells_flush(struct zt_store *s)
{
	for (uint32_t k = 0; k < s->cell_used; k++) {
		const struct cell *c = &s->cells[s->cell_list[k]];
		uint32_t zone = (uint32_t)(c->key >> 32), day = (uint32_t)(c->key >> 5) & 0x7FFFFFF;
		uint8_t keys[ZT_EVENT_TOTALS][ZT_TKEY_LEN];
		zt_event_keys(zone, day, (uint8_t)(c->key >> 3 & 3), (uint8_t)(c->key & 7), keys);
		int rc = zt_tab_add_deltas(s, keys, c->d);
		if (rc < 0)
			return rc;
	}
	return 0;
}
