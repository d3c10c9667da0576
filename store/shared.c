/*
 * shared.c: what the daemon's other threads need from the writer's store: a second,
 * read-only handle on the same LMDB environment (LMDB forbids opening one environment twice
 * in a process), and the list of totals the last commit changed, for the live feed.
 */
#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

/* Allocates the map lock of a read-write handle. */
int
zt_maplock_new(struct zt_store *s)
{
	s->maplock = malloc(sizeof(*s->maplock));
	if (s->maplock == NULL)
		return -ENOMEM;
	if (pthread_rwlock_init(s->maplock, NULL) != 0) {
		free(s->maplock);
		s->maplock = NULL;
		return -ENOMEM;
	}
	return 0;
}

int
zt_store_open_shared(struct zt_store *owner, struct zt_store **ret)
{
	struct zt_store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	*s = (struct zt_store){
	    .env = owner->env,
	    .meta = owner->meta,
	    .zones_db = owner->zones_db,
	    .totals = owner->totals,
	    .dedup = owner->dedup,
	    .dedup_age = owner->dedup_age,
	    .pubs = owner->pubs,
	    .rejects = owner->rejects,
	    .rdonly = true,
	    .shared = true,
	    .maplock = owner->maplock,
	};
	s->zones = malloc((owner->nzones ? owner->nzones : 1) * sizeof(*s->zones));
	if (s->zones == NULL) {
		free(s);
		return -ENOMEM;
	}
	if (owner->nzones > 0)
		memcpy(s->zones, owner->zones, owner->nzones * sizeof(*s->zones));
	s->nzones = owner->nzones;
	*ret = s;
	return 0;
}

int
zt_store_changed(const struct zt_store *s, zt_totals_cb cb, void *arg)
{
	if (!s->changed_ok)
		return -ENOENT;
	for (uint32_t i = 0; i < s->ndirty; i++) {
		const struct tslot *t = &s->tab[s->dirty[i].slot];
		struct zt_tkey k;
		int rc = zt_tkey_decode(t->key, ZT_TKEY_LEN, &k);
		if (rc < 0)
			return rc;
		struct zt_totals v = {.events = t->v[0],
		    .value_fen = t->v[1],
		    .items = t->v[2],
		    .reversals = t->v[3]};
		if ((rc = cb(&k, &v, arg)) != 0)
			return rc;
	}
	return 0;
}
