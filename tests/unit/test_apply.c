/*
 * test_apply.c: zt_store_apply(): one event at all 48 keys, coalesced sums equal the
 * events' sums at every level, dedup (in a batch, across batches, across reopen), every
 * store-time reason, reversals, publisher sequence tracking, rejects, pruning, and
 * MDB_MAP_FULL growth from a 64 KiB map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "store.h"

#define T0  1668096000000LL /* 2022-11-11 00:00 CST */
#define DAY 86400000LL

static char dir[64];
static struct zt_store *s;
static struct zt_apply_opts opts = {.now_ms = T0 + 10 * DAY,
    .future_tolerance_ms = 300000,
    .dedup_window_days = 35,
    .rejects_max = 3,
    .prune_max = 1000};

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/zt-apply-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return zt_store_open(dir, 0, 0, &s);
}

static int
teardown(void **state)
{
	char p[128];
	(void)state;
	s = zt_store_free(s);
	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	(void)unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	(void)unlink(p);
	return rmdir(dir);
}

static struct zt_entry
ev(uint32_t id, uint32_t zone, int dir_, int mode, int64_t value, uint32_t items, int64_t at)
{
	struct zt_entry e = {.ev = {.direction = (uint8_t)dir_,
	                         .mode = (uint8_t)mode,
	                         .zone = zone,
	                         .items = items,
	                         .value_fen = value,
	                         .declared_at_ms = at}};
	memcpy(e.ev.id + 12, &id, 4);
	e.ev.id[0] = 0x01;
	return e;
}

static struct zt_entry
reversal(uint32_t id, const struct zt_entry *orig)
{
	struct zt_entry e = *orig;
	memcpy(e.ev.ref_id, orig->ev.id, ZT_EVENT_ID_LEN);
	memset(e.ev.id, 0, ZT_EVENT_ID_LEN);
	memcpy(e.ev.id + 12, &id, 4);
	e.ev.id[0] = 0x02;
	e.ev.kind = ZT_KIND_CANCELLATION;
	return e;
}

static struct zt_totals
get(int level, uint32_t code, int gran, uint32_t bucket, int d, int m)
{
	struct zt_tkey k = {(uint8_t)level, code, (uint8_t)gran, bucket, (uint8_t)d, (uint8_t)m};
	struct zt_totals t;
	assert_true(zt_store_get(s, &k, &t) >= 0);
	return t;
}

static void
apply(struct zt_entry *e, size_t n, struct zt_apply_result *r)
{
	assert_int_equal(zt_store_apply(s, e, n, &opts, r), 0);
}

static void
test_one_event_48_keys(void **state)
{
	(void)state;
	struct zt_entry e = ev(1, 460000, ZT_DIR_IMPORT, ZT_MODE_1239, 12345, 3, T0 - 1);
	struct zt_apply_result r;
	apply(&e, 1, &r);
	assert_int_equal(e.outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(r.accepted, 1);
	assert_int_equal(r.totals_written, 48);
	assert_int_equal(r.feed_seq, 1);
	assert_int_equal(r.watermark_ms, T0 - 1);
	const uint32_t codes[3] = {0, 460000, 460000};
	const uint32_t buckets[4] = {0, 2022, 202211, 20221110};
	for (int l = 0; l < 3; l++)
		for (int g = 0; g < 4; g++)
			for (int d = 0; d < 3; d++)
				for (int m = 0; m < 6; m++) {
					struct zt_totals t = get(l, codes[l], g, buckets[g], d, m);
					bool hit = (d == 0 || d == ZT_DIR_IMPORT) &&
					    (m == 0 || m == ZT_MODE_1239);
					assert_int_equal(t.events, hit);
					assert_int_equal(t.value_fen, hit ? 12345 : 0);
					assert_int_equal(t.items, hit ? 3 : 0);
					assert_int_equal(t.reversals, 0);
				}
	/* the day after, and the 2022-11-11 bucket, are untouched */
	assert_int_equal(get(2, 460000, ZT_GRAN_DAY, 20221111, 0, 0).events, 0);
	struct zt_totals_block b;
	struct zt_tkey k = {ZT_LEVEL_PROVINCE, 460000, ZT_GRAN_MONTH, 202211, 0, 0};
	assert_int_equal(zt_store_get_block(s, &k, &b), 4);
	assert_int_equal(b.t[ZT_DIR_IMPORT][ZT_MODE_1239].value_fen, 12345);
	assert_int_equal(b.t[ZT_DIR_ALL][ZT_MODE_ALL].items, 3);
	assert_int_equal(b.t[ZT_DIR_EXPORT][ZT_MODE_ALL].events, 0);
}

struct sum {
	int64_t events, value, items;
};

static int
scan_cb(const struct zt_tkey *k, const struct zt_totals *t, void *arg)
{
	struct sum *sm = arg;
	if (k->gran == ZT_GRAN_ALL && k->direction == 0 && k->mode == 0) {
		sm->events += t->events;
		sm->value += t->value_fen;
		sm->items += t->items;
	}
	return 0;
}

static void
test_coalescing_sums(void **state)
{
	(void)state;
	const uint32_t zones[] = {330100, 330200, 330782, 440300, 460000};
	enum {
		N = 3000
	};
	static struct zt_entry e[N];
	int64_t zsum[5][3] = {{0}}, total = 0;
	srand(7);
	for (uint32_t i = 0; i < N; i++) {
		int z = rand() % 5, d = 1 + rand() % 2, day = rand() % 3;
		int64_t v = rand() % 100000;
		e[i] = ev(
		    i + 1, zones[z], d, ZT_MODE_9610, v, (uint32_t)(1 + i % 4), T0 + day * DAY + i);
		zsum[z][day] += v;
		total += v;
	}
	struct zt_apply_result r;
	apply(e, N / 2, &r);
	apply(e + N / 2, N - N / 2, &r);
	assert_int_equal(r.accepted, N - N / 2);
	for (int z = 0; z < 5; z++)
		for (int day = 0; day < 3; day++) {
			struct zt_totals t =
			    get(2, zones[z], ZT_GRAN_DAY, 20221111 + (uint32_t)day, 0, 0);
			assert_int_equal(t.value_fen, zsum[z][day]);
		}
	assert_int_equal(get(1, 330000, ZT_GRAN_MONTH, 202211, 0, 0).value_fen,
	    zsum[0][0] + zsum[0][1] + zsum[0][2] + zsum[1][0] + zsum[1][1] + zsum[1][2] +
	        zsum[2][0] + zsum[2][1] + zsum[2][2]);
	struct zt_totals nat = get(0, 0, ZT_GRAN_YEAR, 2022, 0, 0);
	assert_int_equal(nat.value_fen, total);
	assert_int_equal(nat.events, N);
	assert_int_equal(get(0, 0, ZT_GRAN_ALL, 0, ZT_DIR_IMPORT, 0).events +
	        get(0, 0, ZT_GRAN_ALL, 0, ZT_DIR_EXPORT, 0).events,
	    N);
	/* nation = sum of provinces = sum of zones, read back with scans */
	struct sum zs = {0}, ps = {0};
	struct zt_tkey lo = {ZT_LEVEL_ZONE, 0, 0, 0, 0, 0},
	               hi = {ZT_LEVEL_ZONE, 999999, 3, UINT32_MAX, 2, 5};
	assert_int_equal(zt_store_scan(s, &lo, &hi, scan_cb, &zs), 0);
	lo.level = hi.level = ZT_LEVEL_PROVINCE;
	assert_int_equal(zt_store_scan(s, &lo, &hi, scan_cb, &ps), 0);
	assert_int_equal(zs.value, total);
	assert_int_equal(ps.value, total);
	assert_int_equal(zs.events, N);
	assert_int_equal(ps.items, zs.items);
	struct zt_counters c;
	assert_int_equal(zt_store_counters(s, &c), 0);
	assert_int_equal(c.accepted, N);
	assert_int_equal(c.commits, 2);
	assert_int_equal(c.dedup_records, N);
}

static void
test_dedup(void **state)
{
	(void)state;
	struct zt_entry e[3] = {ev(1, 330100, 2, 1, 10, 1, T0), ev(2, 330100, 2, 1, 20, 1, T0),
	    ev(1, 330100, 2, 1, 99, 1, T0)};
	struct zt_apply_result r;
	apply(e, 3, &r);
	assert_int_equal(e[2].outcome, ZT_OUT_DUPLICATE);
	assert_int_equal(r.duplicates, 1);
	apply(e, 2, &r);
	assert_int_equal(e[0].outcome, ZT_OUT_DUPLICATE);
	assert_int_equal(e[1].outcome, ZT_OUT_DUPLICATE);
	s = zt_store_free(s);
	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
	apply(e + 2, 1, &r);
	assert_int_equal(e[2].outcome, ZT_OUT_DUPLICATE);
	assert_int_equal(get(2, 330100, 0, 0, 0, 0).value_fen, 30);
	struct zt_counters c;
	assert_int_equal(zt_store_counters(s, &c), 0);
	assert_int_equal(c.received, 6);
	assert_int_equal(c.duplicates, 4);
	assert_int_equal(c.feed_seq, 3);
}

/*
 * Ids out of order (looked up and written in id order, judged in arrival order): stored and
 * in-batch duplicates, a reversal of an original claimed earlier in the same batch, one of a
 * stored original, and an id whose first claim is taken back and then claimed again.
 */
static void
test_dedup_unordered_batch(void **state)
{
	(void)state;
	struct zt_entry first[3] = {ev(0x0500, 330100, 2, 1, 10, 1, T0),
	    ev(0x0300, 330100, 2, 1, 20, 1, T0), ev(0x0900, 440300, 2, 1, 40, 1, T0)};
	apply(first, 3, NULL);
	struct zt_entry o = ev(0x0100, 330100, 2, 1, 7, 1, T0);
	struct zt_entry e[8] = {ev(0x0700, 330100, 2, 1, 1, 1, T0), first[1], o,
	    ev(0x0700, 330100, 2, 1, 99, 1, T0), reversal(0x0800, &o), reversal(0x0a00, &first[2])};
	e[6] = reversal(0x0b00, &o); /* rejected reversal_twice: its id is taken back */
	e[7] = ev(0x0b00, 330100, 2, 1, 1000, 1, T0); /* ...and claimed by this declaration */
	struct zt_apply_result r;
	apply(e, 8, &r);
	const int want[8] = {ZT_OUT_ACCEPTED, ZT_OUT_DUPLICATE, ZT_OUT_ACCEPTED, ZT_OUT_DUPLICATE,
	    ZT_OUT_ACCEPTED, ZT_OUT_ACCEPTED, ZT_OUT_REJECTED, ZT_OUT_ACCEPTED};
	for (int i = 0; i < 8; i++)
		assert_int_equal(e[i].outcome, want[i]);
	assert_int_equal(e[6].reason, ZT_REJECT_REVERSAL_TWICE);
	/* 10 + 20 + 40 stored; + 1 + 7 - 7 - 40 + 1000 */
	assert_int_equal(get(0, 0, ZT_GRAN_ALL, 0, 0, 0).value_fen, 1031);
	assert_int_equal(get(0, 0, ZT_GRAN_ALL, 0, 0, 0).reversals, 2);
	/* every accepted id is stored: all resent in one batch, all are duplicates */
	struct zt_entry again[5] = {e[0], e[2], e[4], e[5], e[7]};
	apply(again, 5, &r);
	assert_int_equal(r.duplicates, 5);
	struct zt_counters c;
	assert_int_equal(zt_store_counters(s, &c), 0);
	assert_int_equal(c.dedup_records, 8);
}

/* A reversal whose original was counted earlier in the same batch is judged in its place,
 * even when the original is resent later in the batch: deferring it would make the
 * publisher's sequence look like a gap followed by a late event. */
static void
test_reversal_after_claimed_original(void **state)
{
	(void)state;
	struct zt_entry o = ev(1, 330100, 2, 1, 50, 1, T0);
	struct zt_entry e[4] = {o, reversal(2, &o), o, ev(3, 440300, 2, 1, 9, 1, T0)};
	for (int i = 0; i < 4; i++) {
		snprintf(e[i].ev.publisher, sizeof(e[i].ev.publisher), "p");
		e[i].ev.sequence = (uint64_t)i + 1;
		e[i].has_seq = true;
	}
	e[2].ev.sequence = 1; /* the resend repeats the original, sequence included */
	e[3].ev.sequence = 3;
	apply(e, 4, NULL);
	assert_int_equal(e[0].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[1].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[2].outcome, ZT_OUT_DUPLICATE);
	for (int i = 0; i < 4; i++)
		assert_int_equal(e[i].seq_gap, 0);
	assert_int_equal(get(0, 0, ZT_GRAN_ALL, 0, 0, 0).value_fen, 9);
}

static void
test_time_window(void **state)
{
	(void)state;
	struct zt_entry e[4] = {ev(1, 330100, 2, 1, 10, 1, opts.now_ms + 300000),
	    ev(2, 330100, 2, 1, 10, 1, opts.now_ms + 300001), ev(3, 330100, 2, 1, 10, 1, T0),
	    /* 35-day window from the watermark T0 (2022-11-11): 2022-10-07 is the first
	       day still inside, 2022-10-06 is too old */
	    ev(4, 330100, 2, 1, 10, 1, T0 - 35 * DAY - 1)};
	apply(e, 4, NULL);
	assert_int_equal(e[0].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[1].reason, ZT_REJECT_FUTURE_TIME);
	assert_int_equal(e[2].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[3].outcome, ZT_OUT_REJECTED);
	assert_int_equal(e[3].reason, ZT_REJECT_TOO_OLD);
	struct zt_entry ok = ev(5, 330100, 2, 1, 10, 1, T0 - 35 * DAY + 1000);
	/* the watermark is now + 5 min (10 days later), so this one is too old as well */
	apply(&ok, 1, NULL);
	assert_int_equal(ok.reason, ZT_REJECT_TOO_OLD);
	ok = ev(6, 330100, 2, 1, 10, 1, opts.now_ms - 35 * DAY);
	apply(&ok, 1, NULL);
	assert_int_equal(ok.outcome, ZT_OUT_ACCEPTED);
	struct zt_counters c;
	assert_int_equal(zt_store_counters(s, &c), 0);
	assert_int_equal(c.by_reason[ZT_REJECT_TOO_OLD], 2);
	assert_int_equal(c.by_reason[ZT_REJECT_FUTURE_TIME], 1);
	assert_int_equal(c.watermark_ms, opts.now_ms + 300000);
}

static void
test_reversals(void **state)
{
	(void)state;
	struct zt_entry o = ev(1, 330100, ZT_DIR_EXPORT, ZT_MODE_9710, 5000, 4, T0);
	struct zt_entry e[6];
	e[0] = o;
	e[1] = reversal(100, &o);
	e[2] = reversal(101, &o); /* a second reversal of the same original */
	e[3] = reversal(100, &o); /* the first reversal resent */
	e[4] = reversal(102, &o);
	memset(e[4].ev.ref_id, 0x77, ZT_EVENT_ID_LEN); /* never counted */
	e[5] = reversal(103, &o);
	e[5].ev.ref_id[0] = 0x02; /* points at reversal 100: not an original */
	memcpy(e[5].ev.ref_id, e[1].ev.id, ZT_EVENT_ID_LEN);
	apply(e, 6, NULL);
	assert_int_equal(e[0].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[1].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[2].reason, ZT_REJECT_REVERSAL_TWICE);
	assert_int_equal(e[3].outcome, ZT_OUT_DUPLICATE);
	assert_int_equal(e[4].reason, ZT_REJECT_REVERSAL_UNKNOWN);
	assert_int_equal(e[5].reason, ZT_REJECT_REVERSAL_UNKNOWN);
	struct zt_totals t = get(2, 330100, ZT_GRAN_DAY, 20221111, ZT_DIR_EXPORT, ZT_MODE_9710);
	assert_int_equal(t.events, 0);
	assert_int_equal(t.value_fen, 0);
	assert_int_equal(t.items, 0);
	assert_int_equal(t.reversals, 1);
	/* a mismatching reversal of another original changes nothing, and its id stays free */
	struct zt_entry o2 = ev(2, 330100, ZT_DIR_EXPORT, ZT_MODE_9710, 7000, 1, T0);
	struct zt_entry bad = reversal(200, &o2);
	bad.ev.value_fen = 6999;
	struct zt_entry b2[2] = {o2, bad};
	apply(b2, 2, NULL);
	assert_int_equal(b2[1].reason, ZT_REJECT_REVERSAL_MISMATCH);
	bad = reversal(200, &o2);
	apply(&bad, 1, NULL);
	assert_int_equal(bad.outcome, ZT_OUT_ACCEPTED);
	t = get(0, 0, ZT_GRAN_ALL, 0, 0, 0);
	assert_int_equal(t.events, 0);
	assert_int_equal(t.reversals, 2);
}

/* A reversal that overtook its original inside one batch (a restart reorders a publisher's
 * messages) is applied after it, not rejected. */
static void
test_reversal_before_original(void **state)
{
	(void)state;
	struct zt_entry o = ev(5, 330100, ZT_DIR_EXPORT, ZT_MODE_9610, 300, 2, T0);
	struct zt_entry e[2] = {reversal(500, &o), o};
	apply(e, 2, NULL);
	assert_int_equal(e[0].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[1].outcome, ZT_OUT_ACCEPTED);
	struct zt_entry again = reversal(501, &o);
	apply(&again, 1, NULL);
	assert_int_equal(again.reason, ZT_REJECT_REVERSAL_TWICE);
	struct zt_totals t = get(0, 0, ZT_GRAN_ALL, 0, 0, 0);
	assert_int_equal(t.events, 0);
	assert_int_equal(t.value_fen, 0);
	assert_int_equal(t.reversals, 1);
}

static void
test_overflow(void **state)
{
	(void)state;
	struct zt_entry e[2] = {
	    ev(1, 330100, 2, 1, INT64_MAX, 1, T0), ev(2, 440300, 2, 1, 1, 1, T0)};
	apply(e, 2, NULL);
	assert_int_equal(e[0].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[1].outcome, ZT_OUT_REJECTED);
	assert_int_equal(e[1].reason, ZT_REJECT_OVERFLOW);
	/* nothing of the rejected event was written, even the totals it did not overflow */
	assert_int_equal(get(2, 440300, 0, 0, 0, 0).events, 0);
	assert_int_equal(get(0, 0, 0, 0, 0, 0).value_fen, INT64_MAX);
	struct zt_entry rv = reversal(3, &e[0]);
	apply(&rv, 1, NULL);
	assert_int_equal(rv.outcome, ZT_OUT_ACCEPTED);
	apply(&e[1], 1, NULL); /* its dedup insert was undone: now it counts */
	assert_int_equal(e[1].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(get(0, 0, 0, 0, 0, 0).value_fen, 1);
}

static int
pub_cb(const struct zt_publisher *p, void *arg)
{
	*(struct zt_publisher *)arg = *p;
	return 0;
}

static int
rej_cb(const struct zt_reject_rec *r, void *arg)
{
	uint64_t *seqs = arg;
	seqs[seqs[0]++ + 1] = r->seq;
	assert_true(r->kept_len == r->raw_len && r->kept_len == 3);
	assert_memory_equal(r->raw, "bad", 3);
	return 0;
}

/* Fills e[0..n-1] with declarations of publisher pub numbered seqs[] (ids 1..n). */
static void
pub_events(struct zt_entry *e, int n, const char *pub, const uint64_t *seqs)
{
	for (int i = 0; i < n; i++) {
		e[i] = ev((uint32_t)i + 1, 330100, 2, 1, 1, 1, T0);
		snprintf(e[i].ev.publisher, sizeof(e[i].ev.publisher), "%s", pub);
		e[i].ev.sequence = seqs[i];
		e[i].has_seq = true;
	}
}

static void
test_publishers_and_rejects(void **state)
{
	(void)state;
	const uint64_t seqs[] = {1, 2, 3, 6, 4, 1, 2};
	struct zt_entry e[7];
	pub_events(e, 7, "cust-hz", seqs);
	for (int i = 3; i < 7; i++) {
		e[i].reason_in = ZT_REJECT_UNKNOWN_ZONE;
		e[i].raw = "bad";
		e[i].raw_len = 3;
	}
	apply(e, 4, NULL);
	apply(e + 4, 3, NULL);
	struct zt_publisher p;
	assert_int_equal(zt_store_publishers(s, pub_cb, &p), 0);
	assert_string_equal(p.id, "cust-hz");
	assert_int_equal(p.last_sequence, 2);
	assert_int_equal(p.received, 7);
	assert_int_equal(p.accepted, 3);
	assert_int_equal(p.rejected, 4);
	assert_int_equal(p.gaps, 1);
	assert_int_equal(p.gap_events, 2);
	assert_int_equal(p.late, 1);
	assert_int_equal(p.regressions, 1);
	assert_int_equal(p.last_seen_ms, opts.now_ms);
	uint64_t got[8] = {0};
	assert_int_equal(zt_store_rejects(s, 10, rej_cb, got), 0);
	assert_int_equal(got[0], 3); /* rejects_max */
	assert_int_equal(got[1], 4);
	assert_int_equal(got[3], 2);
	struct zt_counters c;
	assert_int_equal(zt_store_counters(s, &c), 0);
	assert_int_equal(c.by_reason[ZT_REJECT_UNKNOWN_ZONE], 4);
	e[0].reason_in = ZT_REJECT__COUNT;
	assert_int_equal(zt_store_apply(s, e, 1, &opts, NULL), -EINVAL);
}

/* A resent event numbered 1 is a resend (late), not a publisher restart. */
static void
test_resend_is_not_regression(void **state)
{
	(void)state;
	const uint64_t seqs[] = {1, 2, 3};
	struct zt_entry e[3];
	pub_events(e, 3, "cust-nb", seqs);
	apply(e, 3, NULL);
	apply(e, 1, NULL); /* the same event 1 again */
	struct zt_publisher p;
	assert_int_equal(zt_store_publishers(s, pub_cb, &p), 0);
	assert_int_equal(p.duplicates, 1);
	assert_int_equal(p.late, 1);
	assert_int_equal(p.regressions, 0);
	assert_int_equal(p.last_sequence, 3);
}

/* Picks one publisher out of zt_store_publishers(). */
static int
pub_named(const struct zt_publisher *p, void *arg)
{
	struct zt_publisher *want = arg;
	if (strcmp(p->id, want->id) == 0)
		*want = *p;
	return 0;
}

/* Sequence numbers at the top of the range neither wrap the gap count nor rewind. */
static void
test_hostile_sequences(void **state)
{
	(void)state;
	const uint64_t seqs[] = {UINT64_MAX, 5, 1, UINT64_MAX};
	struct zt_entry e[4];
	pub_events(e, 4, "cust-max", seqs);
	apply(e, 2, NULL);
	struct zt_publisher p = {.id = "cust-max"};
	assert_int_equal(zt_store_publishers(s, pub_named, &p), 0);
	assert_true(p.last_sequence == UINT64_MAX);
	assert_true(p.gap_events == UINT64_MAX - 1);
	assert_int_equal(p.gaps, 1);
	assert_int_equal(p.late, 1); /* 5 after UINT64_MAX: late, not a gap of a wrapped size */
	apply(e + 2, 2, NULL);       /* a restart at 1, then UINT64_MAX again */
	assert_int_equal(zt_store_publishers(s, pub_named, &p), 0);
	assert_int_equal(p.regressions, 1);
	assert_int_equal(p.gaps, 2);
	assert_true(p.gap_events == UINT64_MAX); /* saturated */
}

static void
test_pruning(void **state)
{
	(void)state;
	struct zt_entry e[10];
	for (uint32_t i = 0; i < 10; i++)
		e[i] = ev(i + 1, 330100, 2, 1, 1, 1, T0 - (int64_t)(i % 2) * DAY);
	opts.dedup_window_days = 2;
	opts.prune_max = 3;
	struct zt_apply_result r;
	apply(e, 10, &r);
	assert_int_equal(r.pruned, 0);
	struct zt_entry late = ev(100, 330100, 2, 1, 1, 1, T0 + 3 * DAY);
	apply(&late, 1, &r);
	/* cutoff is 2022-11-12: the five 11-10 and five 11-11 records expire, 3 per commit */
	assert_int_equal(r.pruned, 3);
	apply(&late, 1, &r);
	assert_int_equal(r.pruned, 3);
	apply(&late, 1, &r);
	apply(&late, 1, &r);
	assert_int_equal(r.pruned, 1);
	apply(&late, 1, &r);
	assert_int_equal(r.pruned, 0);
	struct zt_counters c;
	assert_int_equal(zt_store_counters(s, &c), 0);
	assert_int_equal(c.dedup_records, 1);
	apply(e, 1, &r);
	assert_int_equal(e[0].reason, ZT_REJECT_TOO_OLD);
	opts.dedup_window_days = 35;
	opts.prune_max = 1000;
}

/* Writes dedup_age records of the layout stores had before the accepted ordinal: u32 day |
 * event_id -> empty, each with its dedup record, straight into the closed store's file. */
static void
put_old_age_records(uint32_t day, const uint8_t ids[][ZT_EVENT_ID_LEN], int n)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi age, dedup;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 1u << 24), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "dedup_age", 0, &age), 0);
	assert_int_equal(mdb_dbi_open(txn, "dedup", 0, &dedup), 0);
	for (int i = 0; i < n; i++) {
		uint8_t key[4 + ZT_EVENT_ID_LEN], rec[5] = {2, 0, 0, 0, 0};
		key[0] = (uint8_t)(day >> 24), key[1] = (uint8_t)(day >> 16);
		key[2] = (uint8_t)(day >> 8), key[3] = (uint8_t)day;
		memcpy(key + 4, ids[i], ZT_EVENT_ID_LEN);
		MDB_val k = {sizeof(key), key}, empty = {0, NULL};
		MDB_val id = {ZT_EVENT_ID_LEN, (void *)(uintptr_t)ids[i]}, v = {sizeof(rec), rec};
		assert_int_equal(mdb_put(txn, age, &k, &empty, 0), 0);
		assert_int_equal(mdb_put(txn, dedup, &id, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Records of the earlier dedup_age layout are pruned like the current ones. */
static void
test_pruning_old_layout(void **state)
{
	(void)state;
	const uint8_t ids[2][ZT_EVENT_ID_LEN] = {{0xaa, 1}, {0xaa, 2}};
	struct zt_entry e = ev(1, 330100, 2, 1, 1, 1, T0);
	struct zt_apply_result r;
	apply(&e, 1, &r);
	s = zt_store_free(s);
	put_old_age_records(20221110, ids, 2);
	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
	opts.dedup_window_days = 1;
	struct zt_entry late = ev(2, 330100, 2, 1, 1, 1, T0 + DAY);
	apply(&late, 1, &r);
	/* cutoff 2022-11-11: both old-layout records of 11-10 go, the 11-11 one stays */
	assert_int_equal(r.pruned, 2);
	apply(&late, 1, &r);
	assert_int_equal(late.outcome, ZT_OUT_DUPLICATE);
	assert_int_equal(r.pruned, 0);
	opts.dedup_window_days = 35;
}

/* The nation-wide all-time number of events. */
static int64_t
nation_events(void)
{
	return get(0, 0, ZT_GRAN_ALL, 0, 0, 0).events;
}

/*
 * Counts three events of 2022-11-06, one of 11-09 and one of 11-11 with a 35-day window,
 * then commits once with a 2-day window, which prunes the 11-06 records (the cutoff is
 * 11-09), and restores the 35-day window.
 */
static void
prune_with_narrow_window(struct zt_entry old[3], struct zt_entry *kept)
{
	struct zt_entry e[5];
	for (uint32_t i = 0; i < 3; i++)
		e[i] = old[i] = ev(10 + i, 330100, 2, 1, 7, 1, T0 - 5 * DAY + i);
	e[3] = *kept = ev(20, 330100, 2, 1, 7, 1, T0 - 2 * DAY);
	e[4] = ev(21, 330100, 2, 1, 7, 1, T0);
	apply(e, 5, NULL);
	assert_int_equal(nation_events(), 5);
	opts.dedup_window_days = 2;
	struct zt_entry today = ev(22, 330100, 2, 1, 7, 1, T0);
	struct zt_apply_result r;
	apply(&today, 1, &r);
	assert_int_equal(r.pruned, 3);
	opts.dedup_window_days = 35;
}

/* Narrowing the window for one commit and restoring it must not let a resend of an event
 * whose record that commit pruned count again (issue 13, hole 1: 1,000 became 2,000). */
static void
test_horizon_after_narrow_window(void **state)
{
	(void)state;
	struct zt_entry old[3], kept;
	prune_with_narrow_window(old, &kept);
	uint32_t h;
	assert_int_equal(zt_store_dedup_horizon(s, &h), 0);
	assert_int_equal(h, 20221107); /* the day after the last one pruned from */
	struct zt_apply_result r;
	apply(old, 3, &r);
	for (int i = 0; i < 3; i++)
		assert_int_equal(old[i].reason, ZT_REJECT_TOO_OLD);
	assert_int_equal(r.accepted, 0);
	apply(&kept, 1, &r); /* its record was kept: still a duplicate */
	assert_int_equal(kept.outcome, ZT_OUT_DUPLICATE);
	assert_int_equal(nation_events(), 6);
	/* the 35-day window admits new events from the horizon on, not before it */
	struct zt_entry fresh[2] = {
	    ev(30, 330100, 2, 1, 7, 1, T0 - 4 * DAY), ev(31, 330100, 2, 1, 7, 1, T0 - 6 * DAY)};
	apply(fresh, 2, NULL);
	assert_int_equal(fresh[0].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(fresh[1].reason, ZT_REJECT_TOO_OLD);
	/* across a reopen, too */
	s = zt_store_free(s);
	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
	apply(old, 1, NULL);
	assert_int_equal(old[0].reason, ZT_REJECT_TOO_OLD);
	assert_int_equal(nation_events(), 7);
}

/* Deletes the dedup_horizon key, as in a store written before it existed. */
static void
drop_horizon_key(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	s = zt_store_free(s);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	char name[] = "dedup_horizon";
	MDB_val k = {sizeof(name) - 1, name};
	assert_int_equal(mdb_del(txn, meta, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(zt_store_open(dir, 0, 0, &s), 0);
}

/* A store written before the horizon key that has pruned derives a safe one: the day after
 * the oldest day left, since that day may have lost records too. */
static void
test_horizon_old_store_pruned(void **state)
{
	(void)state;
	struct zt_entry old[3], kept;
	prune_with_narrow_window(old, &kept);
	drop_horizon_key();
	uint32_t h;
	assert_int_equal(zt_store_dedup_horizon(s, &h), 0);
	assert_int_equal(h, 20221110); /* the oldest day left is 11-09 */
	apply(old, 3, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(old[i].reason, ZT_REJECT_TOO_OLD);
	apply(&kept, 1, NULL);
	assert_int_equal(kept.reason, ZT_REJECT_TOO_OLD);
	assert_int_equal(nation_events(), 6);
	/* those commits stored what they derived, and pruned the 11-09 record it refuses: a
	   derivation now would give 11-12, the day after the oldest day left */
	assert_int_equal(zt_store_dedup_horizon(s, &h), 0);
	assert_int_equal(h, 20221110);
	drop_horizon_key();
	assert_int_equal(zt_store_dedup_horizon(s, &h), 0);
	assert_int_equal(h, 20221112);
}

/* One that never pruned (as many dedup_age keys as accepted events) derives none. */
static void
test_horizon_old_store_unpruned(void **state)
{
	(void)state;
	struct zt_entry e[2] = {
	    ev(1, 330100, 2, 1, 7, 1, T0 - 30 * DAY), ev(2, 330100, 2, 1, 7, 1, T0)};
	apply(e, 2, NULL);
	drop_horizon_key();
	uint32_t h = 1;
	assert_int_equal(zt_store_dedup_horizon(s, &h), 0);
	assert_int_equal(h, 0);
	apply(e, 1, NULL);
	assert_int_equal(e[0].outcome, ZT_OUT_DUPLICATE);
	struct zt_entry older = ev(3, 330100, 2, 1, 7, 1, T0 - 31 * DAY);
	apply(&older, 1, NULL);
	assert_int_equal(older.outcome, ZT_OUT_ACCEPTED);
}

static void
test_map_full_growth(void **state)
{
	(void)state;
	s = zt_store_free(s);
	assert_int_equal(zt_store_open(dir, 0, 64 << 10, &s), 0);
	enum {
		B = 500,
		R = 20
	};
	static struct zt_entry e[B];
	uint32_t x = 12345;
	for (int round = 0; round < R; round++) {
		for (int i = 0; i < B; i++) {
			x = x * 1103515245u + 12345u; /* random ids: worst case for the B-tree */
			e[i] = ev(
			    x, 330100 + (uint32_t)(i % 3) * 100, 2, 1, 2, 1, T0 - (i % 20) * DAY);
			e[i].ev.id[1] = (uint8_t)round;
		}
		apply(e, B, NULL);
		for (int i = 0; i < B; i++)
			assert_int_equal(e[i].outcome, ZT_OUT_ACCEPTED);
	}
	uint64_t map, used;
	assert_int_equal(zt_store_size(s, &map, &used), 0);
	assert_true(map > (64 << 10));
	struct zt_totals t = get(0, 0, 0, 0, 0, 0);
	assert_int_equal(t.events, B * R);
	assert_int_equal(t.value_fen, 2 * B * R);
}

/*
 * Work per batch, counted rather than timed: the batch's lookups into itself must take
 * O(n log n) steps for every shape of batch (issue 13, hole 4: a batch of 100,000 reversals
 * of unknown ids scanned the rest of the batch for each, 5 x 10^9 steps, 22 s).
 */
enum {
	HOSTILE_N = 100000
};

static struct zt_entry *
hostile_batch(void)
{
	struct zt_entry *e = calloc(HOSTILE_N, sizeof(*e));
	assert_non_null(e);
	return e;
}

/* Applies the batch; its lookup steps stay within 3 x 48 (an event's totals, found and
 * written) + 8 (log2 n + 1) per entry. */
static void
apply_bounded(struct zt_entry *e, size_t n, const char *shape)
{
	struct zt_apply_result r;
	apply(e, n, &r);
	uint64_t log2n = 0;
	while ((1ull << log2n) < n)
		log2n++;
	uint64_t bound = (3 * 48 + 8 * (log2n + 1)) * n;
	print_message("%s: %zu entries, %llu lookup steps (bound %llu)\n", shape, n,
	    (unsigned long long)r.batch_steps, (unsigned long long)bound);
	assert_true(r.batch_steps <= bound);
}

static void
test_steps_unknown_reversals(void **state)
{
	(void)state;
	struct zt_entry *e = hostile_batch();
	for (uint32_t i = 0; i < HOSTILE_N; i++) {
		struct zt_entry o = ev(i, 330100, 2, 1, 5, 1, T0);
		e[i] = reversal(HOSTILE_N + i, &o);
	}
	apply_bounded(e, HOSTILE_N, "reversals of unknown ids");
	for (uint32_t i = 0; i < HOSTILE_N; i++)
		assert_int_equal(e[i].reason, ZT_REJECT_REVERSAL_UNKNOWN);
	free(e);
}

/* Reversals ahead of their originals (all deferred), then behind them (none deferred). */
static void
test_steps_reversals_in_batch(void **state)
{
	(void)state;
	struct zt_entry *e = hostile_batch();
	const uint32_t half = HOSTILE_N / 2;
	for (uint32_t i = 0; i < half; i++) {
		e[half + i] = ev(i, 330100, 2, 1, 5, 1, T0);
		e[i] = reversal(HOSTILE_N + i, &e[half + i]);
	}
	apply_bounded(e, HOSTILE_N, "reversals before their originals");
	for (uint32_t i = 0; i < HOSTILE_N; i++)
		assert_int_equal(e[i].outcome, ZT_OUT_ACCEPTED);
	for (uint32_t i = 0; i < half; i++) {
		e[i] = ev(2 * HOSTILE_N + i, 330100, 2, 1, 5, 1, T0);
		e[half + i] = reversal(3 * HOSTILE_N + i, &e[i]);
	}
	apply_bounded(e, HOSTILE_N, "reversals after their originals");
	for (uint32_t i = 0; i < HOSTILE_N; i++)
		assert_int_equal(e[i].outcome, ZT_OUT_ACCEPTED);
	struct zt_totals t = get(0, 0, ZT_GRAN_ALL, 0, 0, 0);
	assert_int_equal(t.events, 0);
	assert_int_equal(t.reversals, HOSTILE_N);
	free(e);
}

/* One id resent n times; then n distinct ids whose two halves are equal. */
static void
test_steps_same_and_mirrored_ids(void **state)
{
	(void)state;
	struct zt_entry *e = hostile_batch();
	for (uint32_t i = 0; i < HOSTILE_N; i++)
		e[i] = ev(7, 330100, 2, 1, 5, 1, T0);
	apply_bounded(e, HOSTILE_N, "one id resent");
	assert_int_equal(e[0].outcome, ZT_OUT_ACCEPTED);
	for (uint32_t i = 1; i < HOSTILE_N; i++)
		assert_int_equal(e[i].outcome, ZT_OUT_DUPLICATE);
	for (uint32_t i = 0; i < HOSTILE_N; i++) {
		e[i] = ev(0, 330100, 2, 1, 5, 1, T0);
		for (int b = 0; b < 4; b++)
			e[i].ev.id[4 + b] = e[i].ev.id[12 + b] = (uint8_t)(i >> (8 * b));
		e[i].ev.id[8] = e[i].ev.id[0];
	}
	apply_bounded(e, HOSTILE_N, "ids with equal halves");
	for (uint32_t i = 0; i < HOSTILE_N; i++)
		assert_int_equal(e[i].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(nation_events(), HOSTILE_N + 1);
	free(e);
}

/* Every event in another zone and day; then one event, which must not pay for the tables
 * that the large batch grew (their slots are listed, not scanned). */
static void
test_steps_after_a_wide_batch(void **state)
{
	(void)state;
	enum {
		WIDE = 20000
	};
	struct zt_entry *e = hostile_batch();
	for (uint32_t i = 0; i < WIDE; i++)
		e[i] = ev(i, 100000 + (i / 35) * 100, 2, 1, 5, 1, T0 - (int64_t)(i % 35) * DAY);
	apply_bounded(e, WIDE, "every event in another zone and day");
	e[0] = ev(WIDE, 330100, 2, 1, 5, 1, T0);
	apply_bounded(e, 1, "one event after it");
	for (uint32_t i = 0; i < WIDE; i++)
		e[i] = ev(2 * WIDE + i, 100000 + (i / 35) * 100, 2, 1, 5, 1, T0);
	/* no coalescing: each event reads its 48 totals, and all but the first overflow */
	e[0].ev.value_fen = INT64_MAX - 5 * (WIDE + 1);
	apply_bounded(e, WIDE, "every event in another zone, one at a time");
	assert_int_equal(e[0].outcome, ZT_OUT_ACCEPTED);
	assert_int_equal(e[WIDE - 1].reason, ZT_REJECT_OVERFLOW);
	assert_int_equal(nation_events(), WIDE + 2);
	free(e);
}

/* FNV-1a of str, the publisher table's hash before it was keyed. */
static uint32_t
fnv1a(const char *str)
{
	uint32_t h = 2166136261u;
	for (; *str; str++)
		h = (h ^ (uint8_t)*str) * 16777619u;
	return h;
}

/*
 * Writes into id a publisher id "c<i>" plus three bytes whose FNV-1a hash is 0 in its low
 * 18 bits: the one table slot of every such id, up to 2^17 publishers. The low bits of
 * FNV-1a depend only on the low bits of its state; the hash is (state ^ last byte) x an odd
 * prime, 0 when the state before the last byte equals that byte: two free bytes before it
 * bring bits 8..17 of the state to 0 (about 1,024 tries) and the last byte matches bits 0..7.
 */
static void
colliding_id(uint32_t i, char id[16])
{
	const uint32_t mask = (1u << 18) - 1;
	int n = snprintf(id, 16, "c%u", i);
	for (unsigned c = 0x0101; c <= 0xffff; c++) {
		id[n] = (char)(c >> 8), id[n + 1] = (char)c, id[n + 2] = 0;
		uint32_t x = fnv1a(id) & mask;
		if ((c & 0xff) != 0 && x >> 8 == 0 && x != 0) {
			id[n + 2] = (char)x, id[n + 3] = 0;
			assert_int_equal(fnv1a(id) & mask, 0);
			return;
		}
	}
	fail_msg("no colliding id for %u", i);
}

/* 100,000 publishers of one batch, each with an id that FNV-1a puts in one slot. */
static void
test_steps_colliding_publishers(void **state)
{
	(void)state;
	struct zt_entry *e = hostile_batch();
	for (uint32_t i = 0; i < HOSTILE_N; i++) {
		e[i] = ev(i, 330100, 2, 1, 5, 1, T0);
		colliding_id(i, e[i].ev.publisher);
		e[i].ev.sequence = 1;
		e[i].has_seq = true;
	}
	apply_bounded(e, HOSTILE_N, "publisher ids colliding under FNV-1a");
	for (uint32_t i = 0; i < HOSTILE_N; i++)
		assert_int_equal(e[i].outcome, ZT_OUT_ACCEPTED);
	free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_one_event_48_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_coalescing_sums, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_sequences, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reversals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reversal_before_original, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dedup_unordered_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reversal_after_claimed_original, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pruning_old_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_publishers_and_rejects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resend_is_not_regression, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pruning, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_map_full_growth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_horizon_after_narrow_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_horizon_old_store_pruned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_horizon_old_store_unpruned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_steps_unknown_reversals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_steps_reversals_in_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_steps_same_and_mirrored_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_steps_colliding_publishers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_steps_after_a_wide_batch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
