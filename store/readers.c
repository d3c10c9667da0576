/*
 * readers.c: the reader holding the oldest snapshot, how long it has held it and the pages
 * it keeps from reuse (issue 14). LMDB reuses a page freed by commit T only once no reader
 * holds a snapshot older than T; a reader stuck on an old snapshot therefore makes every
 * later commit take fresh pages, and the file grows. Read-only; never logs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* The reader table as mdb_reader_list() prints it: slots holding a snapshot only. */
struct slots {
	struct zt_reader_seen s[ZT_READERS_SEEN];
	size_t n;
};

/* One line per slot in use: "PID THREAD(hex) TXNID", or "PID THREAD -" once reset. */
static int
slot_line(const char *msg, void *arg)
{
	struct slots *t = arg;
	unsigned long long thread, txnid;
	int pid;

	if (t->n == ZT_READERS_SEEN || sscanf(msg, "%d %llx %llu", &pid, &thread, &txnid) != 3)
		return 0; /* the header line, a reset slot, or beyond what a memo holds */
	t->s[t->n++] = (struct zt_reader_seen){.pid = pid, .thread = thread, .txnid = txnid};
	return 0;
}

/* Carries each slot's first sighting over from the memo; new ones are first seen now. */
static void
remember(struct zt_readers_memo *memo, struct slots *t, int64_t now_ms)
{
	for (size_t i = 0; i < t->n; i++) {
		struct zt_reader_seen *c = &t->s[i];
		c->first_ms = now_ms;
		for (size_t j = 0; j < memo->n; j++) {
			const struct zt_reader_seen *o = &memo->seen[j];
			if (o->pid == c->pid && o->thread == c->thread && o->txnid == c->txnid) {
				c->first_ms = o->first_ms;
				break;
			}
		}
	}
	memcpy(memo->seen, t->s, t->n * sizeof(t->s[0]));
	memo->n = t->n;
}

/*
 * Adds to memo->pin_pages the page counts of up to ZT_READERS_SCAN free-list records after
 * memo->pin_through. A record is keyed by the freeing commit's txnid (native size_t); its
 * value is an ID list whose first word is the number of pages. @return 1 when the walk has
 * reached the end, 0 when more remain, or an error.
 */
static int
count_pinned(struct zt_store *s, struct zt_readers_memo *memo)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	size_t from = (size_t)memo->pin_through + 1;
	MDB_val k = {.mv_size = sizeof(from), .mv_data = &from}, v;
	int r = zt_rd_acquire(s, &txn);

	if (r < 0)
		return r;
	int rc = mdb_cursor_open(txn, 0 /* FREE_DBI */, &cur);
	unsigned n = 0;
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0 && n < ZT_READERS_SCAN; n++) {
		size_t key, count;
		if (k.mv_size != sizeof(key) || v.mv_size < sizeof(count)) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&key, k.mv_data, sizeof(key));
		memcpy(&count, v.mv_data, sizeof(count));
		memo->pin_pages += count;
		memo->pin_through = key;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	zt_rd_release(s);
	if (rc == MDB_NOTFOUND)
		return 1;
	return rc == 0 ? 0 : zt_mdb_err(rc);
}

int
zt_store_oldest_reader(
    struct zt_store *s, struct zt_readers_memo *memo, int64_t now_ms, struct zt_oldest_reader *ret)
{
	struct slots t; /* 8 KiB */
	MDB_envinfo info;
	struct zt_oldest_reader o = {0};

	t.n = 0;
	int rc = mdb_env_info(s->env, &info);
	if (rc == 0 && mdb_reader_list(s->env, slot_line, &t) < 0)
		rc = EIO;
	if (rc != 0)
		return zt_mdb_err(rc);
	remember(memo, &t, now_ms);
	const struct zt_reader_seen *old = NULL;
	for (size_t i = 0; i < memo->n; i++)
		if (old == NULL || memo->seen[i].txnid < old->txnid ||
		    (memo->seen[i].txnid == old->txnid && memo->seen[i].first_ms < old->first_ms))
			old = &memo->seen[i];
	if (old == NULL) {
		memo->pin_txnid = 0;
		*ret = o;
		return 0;
	}
	if (memo->pin_txnid != old->txnid) { /* another snapshot: count from it */
		memo->pin_txnid = old->txnid;
		memo->pin_through = old->txnid;
		memo->pin_pages = 0;
	}
	int r = count_pinned(s, memo);
	if (r < 0)
		return r;
	o.pid = old->pid;
	o.txnid = old->txnid;
	o.behind = (uint64_t)info.me_last_txnid > old->txnid
	    ? (uint64_t)info.me_last_txnid - old->txnid
	    : 0;
	o.age_ms = now_ms - old->first_ms;
	o.pinned_pages = memo->pin_pages;
	o.pinned_partial = r == 0;
	*ret = o;
	return 0;
}
