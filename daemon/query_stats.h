/*
 * query_stats.h: the parts of the query socket's stats reply that are not plain counters
 * (query_stats.c), kept apart from query.c so that the reply can grow without touching the
 * request loop.
 */
#ifndef ZT_QUERY_STATS_H
#define ZT_QUERY_STATS_H

#include <stddef.h>

#include "store.h"
#include "zonetally.pb-c.h"

#define QUERY_MAX_PUBLISHERS 4096 /* listed at most, as `zonetally stats` shows locally */

/* The publishers of one stats reply; zero-initialise, free with query_pubs_done(). */
struct query_pubs {
	struct query_pub *v;               /* messages and the ids they point to */
	Zonetally__V1__PublisherInfo **pp; /* v's messages, for QueryResponse.publishers */
	size_t n, cap;
};

/*
 * Reads the store's publishers (the first QUERY_MAX_PUBLISHERS in id order) inside the
 * caller's read transaction into PublisherInfo messages.
 * @return 0; -ENOMEM; a store error. On error *p holds what was read so far (free it).
 */
int query_pubs_read(struct zt_store *s, struct query_pubs *p);

/* Frees what query_pubs_read() allocated; p may be zeroed or partly filled. */
void query_pubs_done(struct query_pubs *p);

#endif /* ZT_QUERY_STATS_H */
