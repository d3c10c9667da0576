/*
 * query_stats.c: the publisher list of the query socket's stats reply, so that `zonetally
 * --connect EP stats` shows what the local command reads from the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_stats.h"

struct query_pub {
	Zonetally__V1__PublisherInfo m;
	char id[ZT_PUBLISHER_MAX + 1];
};

static int
grow(struct query_pubs *p)
{
	size_t nc = p->cap ? p->cap * 2 : 16;
	struct query_pub *nv;

	if (nc > QUERY_MAX_PUBLISHERS)
		nc = QUERY_MAX_PUBLISHERS;
	/* the messages point into v: v moves, so they are filled only once all are read */
	if ((nv = realloc(p->v, nc * sizeof(*nv))) == NULL)
		return -ENOMEM;
	p->v = nv;
	p->cap = nc;
	return 0;
}

static int
pub_cb(const struct zt_publisher *x, void *arg)
{
	struct query_pubs *p = arg;

	if (p->n == QUERY_MAX_PUBLISHERS)
		return 1;
	if (p->n == p->cap && grow(p) < 0)
		return -ENOMEM;
	Zonetally__V1__PublisherInfo *m = &p->v[p->n].m;
	*m = (Zonetally__V1__PublisherInfo)ZONETALLY__V1__PUBLISHER_INFO__INIT;
	m->has_last_sequence = m->has_received = m->has_accepted = m->has_duplicates =
	    m->has_rejected = m->has_gaps = m->has_gap_events = m->has_late = m->has_regressions =
	        m->has_last_seen_ms = m->has_through_sequence = 1;
	m->last_sequence = x->last_sequence;
	m->received = x->received;
	m->accepted = x->accepted;
	m->duplicates = x->duplicates;
	m->rejected = x->rejected;
	m->gaps = x->gaps;
	m->gap_events = x->gap_events;
	m->late = x->late;
	m->regressions = x->regressions;
	m->last_seen_ms = x->last_seen_ms;
	m->through_sequence = x->through_sequence;
	(void)snprintf(p->v[p->n].id, sizeof(p->v[p->n].id), "%s", x->id);
	p->n++;
	return 0;
}

int
query_pubs_read(struct zt_store *s, struct query_pubs *p)
{
	int r = zt_store_publishers(s, pub_cb, p);

	if (r < 0)
		return r;
	if ((p->pp = calloc(p->n ? p->n : 1, sizeof(*p->pp))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		p->v[i].m.id = p->v[i].id;
		p->pp[i] = &p->v[i].m;
	}
	return 0;
}

void
query_pubs_done(struct query_pubs *p)
{
	free(p->v);
	free(p->pp);
	*p = (struct query_pubs){0};
}
