/*
 * apply.c: zt_store_apply(), one batch in one durable write transaction: publisher
 * sequence tracking, the time window, dedup, reversal matching, overflow checks, coalesced
 * totals, counters, rejects, pruning; and the MDB_MAP_FULL retry around it. Outcomes are
 * computed into scratch arrays and copied to the caller's entries only after the commit,
 * so that a re-applied batch recomputes them from scratch.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store_int.h"

/* State of one attempt at applying the batch. */
struct actx {
	MDB_txn *txn;
	const struct zt_apply_opts *o;
	int64_t now_ms;
	int64_t future_limit; /* events after this are FUTURE_TIME */
	uint32_t cutoff_day;  /* events of days before this are TOO_OLD; 0: no cutoff */
	uint32_t horizon;     /* first day with every dedup record kept (horizon.c) */
	uint32_t horizon0;    /* as loaded */
	bool horizon_stored;  /* the store holds the horizon key */
	bool coalesce;        /* deltas go to cells (see coalesce_safe()) */
	struct tail dedup_tail, age_tail;
	struct ctr_rec ctr;
	struct zt_apply_result res;
};

static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/*
 * The first CST day still judged: the one the dedup window covers from the watermark, or
 * the dedup horizon if that is later (a window wider than the records kept cannot see
 * duplicates below the horizon, see horizon.c).
 */
static uint32_t
cutoff_of(int64_t watermark_ms, uint32_t window_days, uint32_t horizon)
{
	uint32_t c = 0;
	if (watermark_ms != 0 && window_days != 0)
		c = zt_cst_day(sat_add(watermark_ms, -(int64_t)window_days * ZT_DAY_MS));
	return c > horizon ? c : horizon;
}

/*
 * Sequence tracking of one message from a publisher (DESIGN.md §4). A duplicate at or below
 * the highest sequence is a resend, never a restart: only a new event numbered 1 means the
 * publisher started over. Written so that no sequence, UINT64_MAX included, wraps: a
 * hostile publisher can inflate its own gap counter (saturating), not rewind last_sequence.
 */
static void
track_seq(struct zt_publisher *p, uint64_t seq, bool duplicate, uint64_t *ret_gap)
{
	uint64_t last = p->last_sequence;
	*ret_gap = 0;
	if (last != UINT64_MAX && seq == last + 1) {
		p->last_sequence = seq;
	} else if (seq > last) {
		uint64_t missing = seq - last - 1;
		p->gaps++;
		p->gap_events =
		    p->gap_events > UINT64_MAX - missing ? UINT64_MAX : p->gap_events + missing;
		p->last_sequence = seq;
		*ret_gap = missing;
	} else if (seq == 1 && last > 1 && !duplicate) {
		p->regressions++;
		p->last_sequence = 1;
		*ret_gap = ZT_SEQ_REGRESSION;
	} else {
		p->late++;
	}
}

/* Reads the DB's last key into t. */
static int
tail_load(MDB_txn *txn, MDB_dbi dbi, struct tail *t)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return zt_wr_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	*t = (struct tail){.empty = rc == MDB_NOTFOUND};
	if (rc == 0 && k.mv_size <= sizeof(t->key)) {
		memcpy(t->key, k.mv_data, k.mv_size);
		t->len = k.mv_size;
	}
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : zt_wr_err(rc);
}

/*
 * mdb_put() of a new key, appended without a search from the root when it sorts after
 * every key the DB holds, as time-ordered event ids do (the recommended form); LMDB then
 * also fills the last page before it splits. t never sorts below the DB's true last key
 * (deletes only lower that), so a key above t cannot be in the DB yet.
 */
static int
put_ordered(MDB_txn *txn, MDB_dbi dbi, struct tail *t, MDB_val *k, MDB_val *v, unsigned flags)
{
	bool after = zt_tail_after(txn, dbi, t, k);
	int rc = mdb_put(txn, dbi, k, v, flags | (after ? MDB_APPEND : 0));
	if (rc == 0 && after && k->mv_size <= sizeof(t->key)) {
		memcpy(t->key, k->mv_data, k->mv_size);
		t->len = k->mv_size;
		t->empty = false;
	}
	return rc;
}

/* Appends a reject record keyed by the next arrival sequence. */
static int
reject_append(struct zt_store *s, struct actx *a, const struct zt_entry *en, uint16_t reason)
{
	a->ctr.reject_seq++;
	if (a->o->rejects_max == 0)
		return 0;
	uint32_t keep = en->raw == NULL ? 0 : en->raw_len;
	keep = keep > ZT_REJECT_KEEP ? ZT_REJECT_KEEP : keep;
	uint8_t key[8];
	be64_put(key, a->ctr.reject_seq);
	MDB_val k = {sizeof(key), key}, v = {ZT_REJ_HDR_LEN + (size_t)keep, NULL};
	int rc = mdb_put(a->txn, s->rejects, &k, &v, MDB_RESERVE | MDB_APPEND);
	if (rc == MDB_KEYEXIST)
		return ZT_E_CORRUPT;
	if (rc != 0)
		return zt_wr_err(rc);
	uint8_t *p = v.mv_data;
	be64_put(p, (uint64_t)a->now_ms);
	be16_put(p + 8, reason);
	be32_put(p + 10, en->raw_len);
	if (keep > 0)
		memcpy(p + ZT_REJ_HDR_LEN, en->raw, keep);
	return 0;
}

/*
 * Adds the deltas to the event's 48 totals, or to none of them if any would overflow; when
 * the batch coalesces, to its cell (zt_cells_flush() spreads them at the end).
 * @return 0 applied; 1 overflow (nothing changed); negative error.
 */
static int
add_totals(
    struct zt_store *s, struct actx *a, const struct zt_event *ev, uint32_t day, const int64_t d[4])
{
	if (a->coalesce)
		return zt_cells_add(s, ev, day, d);
	uint8_t keys[ZT_EVENT_TOTALS][ZT_TKEY_LEN];
	zt_event_keys(ev->zone, day, ev->direction, ev->mode, keys);
	return zt_tab_add(s, a->txn, keys, d);
}

/* Checks a reversal against its original; returns a reason, 0 if it matches. */
static int
match_reversal(struct zt_store *s, struct actx *a, const struct zt_event *ev, struct dd_rec *orig)
{
	int rc = zt_dd_get(s, a->txn, ev->ref_id, orig);
	if (rc != 0)
		return rc == 1 ? ZT_REJECT_REVERSAL_UNKNOWN : rc;
	if (orig->state == DD_REVERSAL)
		return ZT_REJECT_REVERSAL_UNKNOWN;
	if (orig->state == DD_REVERSED)
		return ZT_REJECT_REVERSAL_TWICE;
	if (orig->zone != ev->zone || orig->direction != ev->direction || orig->mode != ev->mode ||
	    orig->declared_at_ms != ev->declared_at_ms || orig->value_fen != ev->value_fen ||
	    orig->items != ev->items)
		return ZT_REJECT_REVERSAL_MISMATCH;
	return 0;
}

/* Marks the original reversed and records the event's dedup age; the event is counted. */
static int
commit_event(struct zt_store *s, struct actx *a, const struct zt_event *ev, uint32_t day,
    struct dd_rec *orig)
{
	int rc;
	if (ev->kind != ZT_KIND_DECLARATION) {
		uint8_t rec[ZT_DEDUP_ORIG_LEN];
		size_t len;
		orig->state = DD_REVERSED;
		zt_dd_encode(orig, rec, &len);
		if ((rc = zt_dd_update(s, a->txn, ev->ref_id, rec, len)) < 0)
			return rc;
	}
	uint8_t age[ZT_AGE_KEY_LEN];
	be32_put(age, day);
	be64_put(age + 4, a->ctr.c.accepted);
	MDB_val k = {sizeof(age), age}, v = zt_mval(ZT_EVENT_ID_LEN, ev->id);
	if ((rc = put_ordered(a->txn, s->dedup_age, &a->age_tail, &k, &v, 0)) != 0)
		return zt_wr_err(rc);
	a->ctr.c.dedup_records++;
	if (ev->declared_at_ms > a->ctr.c.watermark_ms) {
		a->ctr.c.watermark_ms = ev->declared_at_ms;
		a->cutoff_day = cutoff_of(ev->declared_at_ms, a->o->dedup_window_days, a->horizon);
	}
	return 0;
}

/* Claims the event's id for entry i (apply_dedup.c); 1 if it is taken (a duplicate). */
static int
dedup_claim(struct zt_store *s, size_t i, const struct zt_event *ev, uint32_t day)
{
	struct dd_rec r = {
	    .state = ev->kind == ZT_KIND_DECLARATION ? DD_COUNTED : DD_REVERSAL,
	    .direction = ev->direction,
	    .mode = ev->mode,
	    .day = day,
	    .zone = ev->zone,
	    .items = ev->items,
	    .value_fen = ev->value_fen,
	    .declared_at_ms = ev->declared_at_ms,
	};
	uint8_t rec[ZT_DEDUP_ORIG_LEN];
	size_t len;
	zt_dd_encode(&r, rec, &len);
	return zt_dd_claim(s, i, ev->id, rec, len);
}

enum verdict {
	V_ACCEPTED = 0,
	V_DUPLICATE = 1,
	V_REJECTED = 2,
};

static int
reject(uint16_t *ret_reason, int reason)
{
	*ret_reason = (uint16_t)reason;
	return V_REJECTED;
}

/* Rejects what the validator should have caught, so that no key or sum can go wrong. */
static int
sanity(const struct zt_event *ev)
{
	if (ev->direction != ZT_DIR_IMPORT && ev->direction != ZT_DIR_EXPORT)
		return ZT_REJECT_BAD_DIRECTION;
	if (ev->mode <= ZT_MODE_ALL || ev->mode >= ZT_MODE__COUNT)
		return ZT_REJECT_BAD_MODE;
	if (ev->kind >= ZT_KIND__COUNT)
		return ZT_REJECT_BAD_KIND;
	if (ev->value_fen < 0)
		return ZT_REJECT_NEGATIVE_VALUE;
	return 0;
}

/*
 * Judges a validated event against the store and counts it if it passes.
 * @return V_ACCEPTED; V_DUPLICATE; V_REJECTED with *ret_reason set; negative error.
 */
static int
judge(struct zt_store *s, struct actx *a, size_t i, const struct zt_event *ev, uint16_t *ret_reason)
{
	uint32_t day = zt_cst_day(ev->declared_at_ms);
	struct dd_rec orig = {0};
	int rc = sanity(ev);
	if (rc != 0)
		return reject(ret_reason, rc);
	if (ev->declared_at_ms > a->future_limit)
		return reject(ret_reason, ZT_REJECT_FUTURE_TIME);
	if (a->cutoff_day != 0 && day < a->cutoff_day)
		return reject(ret_reason, ZT_REJECT_TOO_OLD);
	if ((rc = dedup_claim(s, i, ev, day)) != 0)
		return rc == 1 ? V_DUPLICATE : rc;
	bool rev = ev->kind != ZT_KIND_DECLARATION;
	if (rev && (rc = match_reversal(s, a, ev, &orig)) != 0)
		goto undo;
	const int64_t sign = rev ? -1 : 1;
	const int64_t d[4] = {sign, sign * ev->value_fen, sign * (int64_t)ev->items, rev};
	if ((rc = add_totals(s, a, ev, day, d)) != 0) {
		rc = rc == 1 ? ZT_REJECT_OVERFLOW : rc;
		goto undo;
	}
	rc = commit_event(s, a, ev, day, &orig);
	return rc < 0 ? rc : V_ACCEPTED;
undo:
	if (rc < 0)
		return rc;
	/* the id was claimed for this event only: take it back, nothing else changed */
	zt_dd_unclaim(s, i);
	return reject(ret_reason, rc);
}

/* Counts one entry's final outcome in the counters and its publisher. */
static void
count_outcome(struct actx *a, struct zt_publisher *p, int verdict, uint16_t reason)
{
	if (p != NULL)
		p->received++;
	if (verdict == V_ACCEPTED) {
		a->ctr.c.accepted++;
		a->res.accepted++;
		if (p != NULL)
			p->accepted++;
	} else if (verdict == V_DUPLICATE) {
		a->ctr.c.duplicates++;
		a->res.duplicates++;
		if (p != NULL)
			p->duplicates++;
	} else {
		a->ctr.c.rejected++;
		a->ctr.c.by_reason[reason]++;
		a->res.rejected++;
		if (p != NULL)
			p->rejected++;
	}
}

/* Whether the entry carries a usable publisher id for sequence tracking. */
static bool
has_publisher(const struct zt_entry *en)
{
	size_t len = strnlen(en->ev.publisher, sizeof(en->ev.publisher));
	return en->has_seq && len > 0 && len <= ZT_PUBLISHER_MAX;
}

/* Applies one entry in the open transaction; its outcome goes to s->out/s->reason[i]. */
static int
apply_entry(struct zt_store *s, struct actx *a, const struct zt_entry *en, size_t i)
{
	struct zt_publisher *p = NULL;
	uint64_t gap = 0;
	uint16_t reason = en->reason_in;
	int rc, verdict = V_REJECTED;
	if (reason == ZT_REJECT_NONE && (verdict = judge(s, a, i, &en->ev, &reason)) < 0)
		return verdict;
	if (has_publisher(en)) {
		if ((rc = zt_pub_get(s, a->txn, en->ev.publisher, &p)) < 0)
			return rc;
		track_seq(p, en->ev.sequence, verdict == V_DUPLICATE, &gap);
		if (en->through_in > p->through_sequence)
			p->through_sequence = en->through_in;
	}
	if (verdict == V_REJECTED && (rc = reject_append(s, a, en, reason)) < 0)
		return rc;
	count_outcome(a, p, verdict, reason);
	s->out[i] = verdict == V_ACCEPTED ? ZT_OUT_ACCEPTED
	    : verdict == V_DUPLICATE      ? ZT_OUT_DUPLICATE
	                                  : ZT_OUT_REJECTED;
	s->reason[i] = verdict == V_REJECTED ? reason : ZT_REJECT_NONE;
	s->gap[i] = gap;
	return 0;
}

/* The event id of a dedup_age record, in either of its layouts (see store.c). */
static int
age_id(const MDB_val *k, const MDB_val *v, MDB_val *ret)
{
	if (k->mv_size == ZT_AGE_KEY_LEN && v->mv_size == ZT_EVENT_ID_LEN)
		*ret = *v;
	else if (k->mv_size == 4 + ZT_EVENT_ID_LEN && v->mv_size == 0)
		*ret = (MDB_val){ZT_EVENT_ID_LEN, (uint8_t *)k->mv_data + 4};
	else
		return ZT_E_CORRUPT;
	return 0;
}

/*
 * Deletes expired dedup records, oldest day first, at most prune_max, and moves the
 * horizon past the last day it deleted from, in the same transaction: every record of the
 * days before that one is gone, and of that day perhaps only some.
 */
static int
prune(struct zt_store *s, struct actx *a)
{
	uint32_t max = a->o->prune_max ? a->o->prune_max : ZT_PRUNE_DEFAULT, last = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	if (a->cutoff_day == 0)
		return 0;
	int rc = mdb_cursor_open(a->txn, s->dedup_age, &cur);
	if (rc != 0)
		return zt_wr_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && a->res.pruned < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		MDB_val id;
		if ((rc = age_id(&k, &v, &id)) < 0)
			break;
		if ((last = be32_get(k.mv_data)) >= a->cutoff_day)
			break;
		if ((rc = mdb_del(a->txn, s->dedup, &id, NULL)) != 0 && rc != MDB_NOTFOUND)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		a->res.pruned++;
		a->ctr.c.dedup_records -= a->ctr.c.dedup_records > 0;
		uint32_t h = zt_next_day(last);
		a->horizon = h > a->horizon ? h : a->horizon;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND || rc == 0)
		return 0;
	return rc == ZT_E_CORRUPT ? rc : zt_wr_err(rc);
}

/* Deletes the oldest rejects beyond rejects_max. */
static int
trim_rejects(struct zt_store *s, struct actx *a)
{
	MDB_stat st;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_stat(a->txn, s->rejects, &st);
	if (rc != 0)
		return zt_wr_err(rc);
	if (st.ms_entries <= a->o->rejects_max)
		return 0;
	size_t extra = st.ms_entries - a->o->rejects_max;
	if ((rc = mdb_cursor_open(a->txn, s->rejects, &cur)) != 0)
		return zt_wr_err(rc);
	while (extra-- > 0) {
		if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) != 0 ||
		    (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return zt_wr_err(rc);
}

/* Writes the tables, counters and prunes; the transaction is then ready to commit. */
static int
finish(struct zt_store *s, struct actx *a, size_t n)
{
	int rc;
	if ((rc = zt_dd_flush(s, a->txn, &a->dedup_tail)) < 0)
		return rc;
	if (a->coalesce && (rc = zt_cells_flush(s)) < 0)
		return rc;
	if ((rc = zt_tab_flush(s, a->txn, &a->res.totals_written)) < 0 ||
	    (rc = zt_pub_flush(s, a->txn, a->now_ms)) < 0 || (rc = prune(s, a)) < 0 ||
	    (rc = trim_rejects(s, a)) < 0)
		return rc;
	/* the key is written once even if 0, so that only stores older than it derive one */
	if ((a->horizon != a->horizon0 || !a->horizon_stored) &&
	    (rc = zt_horizon_put(s, a->txn, a->horizon)) < 0)
		return rc;
	a->ctr.c.received += n;
	a->ctr.c.commits++;
	a->ctr.c.feed_seq++;
	uint8_t rec[ZT_COUNTERS_LEN];
	zt_counters_encode(&a->ctr, rec);
	MDB_val k = zt_mval(8, "counters"), v = {sizeof(rec), rec};
	if ((rc = mdb_put(a->txn, s->meta, &k, &v, 0)) != 0)
		return zt_wr_err(rc);
	a->res.feed_seq = a->ctr.c.feed_seq;
	a->res.watermark_ms = a->ctr.c.watermark_ms;
	a->res.batch_steps = s->steps;
	return 0;
}

/*
 * Whether entry i is a reversal whose original is not counted yet but comes later in the
 * same batch. After a daemon restart a publisher's queued messages can arrive before the
 * resend of the ones the crash lost, so a reversal may precede its original in a batch;
 * judged in arrival order it would be rejected as reversal_unknown although the batch
 * holds the answer. Such entries are applied after the rest of the batch instead. The
 * later original is found among the batch's candidates in id order (zt_dd_decl_after()):
 * O(log n), where a scan of the rest of the batch made a batch of reversals quadratic.
 * @return 1 defer; 0 apply now; negative error.
 */
static int
defer_reversal(struct zt_store *s, struct actx *a, const struct zt_entry *e, size_t i)
{
	const struct zt_event *ev = &e[i].ev;
	if (e[i].reason_in != ZT_REJECT_NONE || ev->kind == ZT_KIND_DECLARATION)
		return 0;
	struct dd_rec orig;
	/* counted already: stored, or claimed earlier in this batch */
	int rc = zt_dd_get(s, a->txn, ev->ref_id, &orig);
	if (rc != 1)
		return rc < 0 ? rc : 0;
	return zt_dd_decl_after(s, ev->ref_id, i);
}

/* Applies every entry, the deferred reversals last (see defer_reversal()). */
static int
apply_all(struct zt_store *s, struct actx *a, const struct zt_entry *e, size_t n)
{
	size_t ndefer = 0;
	int rc;
	for (size_t i = 0; i < n; i++) {
		if ((rc = defer_reversal(s, a, e, i)) < 0)
			return rc;
		s->deferred[i] = (uint8_t)rc;
		ndefer += (size_t)rc;
		if (rc == 0 && (rc = apply_entry(s, a, &e[i], i)) < 0)
			return rc;
	}
	for (size_t i = 0; i < n && ndefer > 0; i++)
		if (s->deferred[i] && (rc = apply_entry(s, a, &e[i], i)) < 0)
			return rc;
	return 0;
}

/*
 * Decides whether the batch may coalesce its deltas in cells, where an event's overflow
 * can no longer be seen on its own. It may when nothing can overflow: totals never go
 * below zero (a reversal only subtracts its matched original) and the national all-time
 * total sums every event that any other total sums, so if it stays in range with every
 * entry of the batch added, all of them do. Otherwise each event is checked on its own.
 */
static int
coalesce_safe(struct zt_store *s, struct actx *a, const struct zt_entry *e, size_t n)
{
	const struct zt_tkey nk = {
	    ZT_LEVEL_NATION, ZT_NATION_CODE, ZT_GRAN_ALL, 0, ZT_DIR_ALL, ZT_MODE_ALL};
	uint8_t key[ZT_TKEY_LEN];
	uint32_t slot;
	zt_tkey_encode(&nk, key);
	int rc = zt_tab_reserve(s, 1);
	if (rc < 0 || (rc = zt_tab_get(s, a->txn, key, &slot)) < 0)
		return rc;
	int64_t sum[4];
	memcpy(sum, s->tab[slot].v, sizeof(sum));
	a->coalesce = false;
	for (size_t i = 0; i < n; i++) {
		const struct zt_event *ev = &e[i].ev;
		if (e[i].reason_in != ZT_REJECT_NONE)
			continue;
		const int64_t d[4] = {1, ev->value_fen, (int64_t)ev->items, 1};
		for (int f = 0; f < 4; f++)
			if (d[f] < 0 || __builtin_add_overflow(sum[f], d[f], &sum[f]))
				return 0;
	}
	a->coalesce = true;
	return 0;
}

/* One attempt: begin, apply every entry, finish, commit. */
static int
attempt(struct zt_store *s, struct zt_entry *e, size_t n, struct actx *a)
{
	int rc = mdb_txn_begin(s->env, NULL, 0, &a->txn);
	if (rc != 0)
		return zt_wr_err(rc);
	zt_tab_begin(s);
	s->steps = 0;
	if ((rc = zt_counters_load(s, a->txn, &a->ctr)) < 0)
		goto fail;
	if ((rc = zt_horizon_load(s, a->txn, &a->ctr, &a->horizon, &a->horizon_stored)) < 0)
		goto fail;
	a->horizon0 = a->horizon;
	a->cutoff_day = cutoff_of(a->ctr.c.watermark_ms, a->o->dedup_window_days, a->horizon);
	if ((rc = tail_load(a->txn, s->dedup, &a->dedup_tail)) < 0 ||
	    (rc = tail_load(a->txn, s->dedup_age, &a->age_tail)) < 0 ||
	    (rc = zt_dd_begin(s, n)) < 0 ||
	    (rc = zt_dd_prefetch(s, a->txn, &a->dedup_tail, e, n)) < 0 ||
	    (rc = coalesce_safe(s, a, e, n)) < 0 || (rc = apply_all(s, a, e, n)) < 0 ||
	    (rc = finish(s, a, n)) < 0)
		goto fail;
	rc = mdb_txn_commit(a->txn);
	a->txn = NULL;
	return zt_wr_err(rc);
fail:
	mdb_txn_abort(a->txn);
	a->txn = NULL;
	return rc;
}

/* Grows the outcome scratch arrays to n entries. */
static int
reserve_out(struct zt_store *s, size_t n)
{
	if (n <= s->out_cap)
		return 0;
	uint8_t *o = realloc(s->out, n);
	if (o == NULL)
		return -ENOMEM;
	s->out = o;
	uint16_t *r = realloc(s->reason, n * sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	s->reason = r;
	uint64_t *g = realloc(s->gap, n * sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	s->gap = g;
	uint8_t *d = realloc(s->deferred, n);
	if (d == NULL)
		return -ENOMEM;
	s->deferred = d;
	if ((d = realloc(s->dd_exists, n)) == NULL)
		return -ENOMEM;
	s->dd_exists = d;
	struct dd_cand *c = realloc(s->cand, n * sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	s->cand = c;
	uint32_t *run = realloc(s->run, n * sizeof(*run));
	if (run == NULL)
		return -ENOMEM;
	s->run = run;
	s->out_cap = n;
	return 0;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
zt_store_apply(struct zt_store *s, struct zt_entry *e, size_t n, const struct zt_apply_opts *opts,
    struct zt_apply_result *ret)
{
	if (s->rdonly)
		return -EROFS;
	if (s->rdepth > 0)
		return -EBUSY;
	for (size_t i = 0; i < n; i++)
		if (e[i].reason_in >= ZT_REJECT__COUNT)
			return -EINVAL;
	int rc = reserve_out(s, n);
	if (rc < 0)
		return rc;
	struct actx a = {.o = opts, .now_ms = opts->now_ms ? opts->now_ms : wall_ms()};
	a.future_limit = sat_add(a.now_ms, opts->future_tolerance_ms);
	while ((rc = attempt(s, e, n, &a)) == ZT_E_MAPFULL) {
		if ((rc = zt_map_grow(s)) < 0)
			return rc;
		a.res = (struct zt_apply_result){0};
	}
	if (rc < 0)
		return zt_io_err(s, rc);
	s->changed_ok = true;
	for (size_t i = 0; i < n; i++) {
		e[i].outcome = s->out[i];
		e[i].reason = s->reason[i];
		e[i].seq_gap = s->gap[i];
	}
	if (ret != NULL)
		*ret = a.res;
	return 0;
}
