/*
 * test_clients_reader.c: zt_reader_* against a real store in a mkdtemp directory: a few events
 * written with zt_store_apply() are read back as a daemon's monitoring client would.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zonetally.h"

#define T0 1668155400000LL /* 2022-11-11T16:30:00+08:00 */

struct fixture {
	char dir[64];
};

static void
event(struct zt_entry *e, uint32_t zone, int dir, int mode, int64_t value, int64_t t, uint64_t seq)
{
	const char *ln = "FIXTURE-LIST-NO";
	char list[32];

	memset(e, 0, sizeof(*e));
	(void)snprintf(list, sizeof(list), "%s-%llu", ln, (unsigned long long)seq);
	zt_eventid_from_list_no(t, list, strlen(list), e->ev.id);
	(void)snprintf(e->ev.publisher, sizeof(e->ev.publisher), "%s", "reader-test");
	e->ev.direction = (uint8_t)dir;
	e->ev.mode = (uint8_t)mode;
	e->ev.zone = zone;
	e->ev.items = 2;
	e->ev.sequence = seq;
	e->ev.value_fen = value;
	e->ev.declared_at_ms = t;
	e->has_seq = true;
	e->raw = "";
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct zt_store *s = NULL;
	struct zt_zone *zones;
	struct zt_entry e[4];
	struct timespec ts;
	char path[128];
	size_t line;

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/zt-reader-test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(path, sizeof(path), "%s/store", f->dir);
	int n = zt_registry_load_file(ZT_TEST_ZONES, &zones, &line), r;
	if (n <= 0 || mkdir(path, 0700) < 0)
		return -1;
	if ((r = zt_store_open(path, 0, 0, &s)) < 0 ||
	    (r = zt_store_put_zones(s, zones, (size_t)n)) < 0) {
		print_error("store setup: %s\n", zt_strerror(r));
		return -1;
	}
	free(zones);
	event(&e[0], 330100, ZT_DIR_EXPORT, ZT_MODE_9610, 12345, T0, 1);
	event(&e[1], 330100, ZT_DIR_IMPORT, ZT_MODE_1210, 100, T0 + 1, 2);
	event(&e[2], 330200, ZT_DIR_EXPORT, ZT_MODE_9710, 5000000, T0 + 86400000, 3);
	event(&e[3], 460000, ZT_DIR_EXPORT, ZT_MODE_9610, 7, T0, 4);
	e[3].reason_in = ZT_REJECT_ZONE_NOT_VALID; /* the daemon's validator says so in 2022 */
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	struct zt_apply_opts o = {.now_ms = (int64_t)ts.tv_sec * 1000,
	    .future_tolerance_ms = 300000,
	    .dedup_window_days = 35,
	    .rejects_max = 100};
	struct zt_apply_result res = {0};
	if ((r = zt_store_apply(s, e, 4, &o, &res)) < 0 || res.accepted != 3 || res.rejected != 1) {
		print_error("apply: %s, accepted %u rejected %u\n", zt_strerror(r), res.accepted,
		    res.rejected);
		return -1;
	}
	zt_store_free(s);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[160];

	(void)snprintf(path, sizeof(path), "%s/store/data.mdb", f->dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/store/lock.mdb", f->dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/store", f->dir);
	(void)rmdir(path);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static struct zt_reader *
open_fixture(void **state)
{
	struct fixture *f = *state;
	struct zt_reader *r = NULL;

	assert_int_equal(zt_reader_open(f->dir, &r), 0);
	assert_non_null(r);
	return r;
}

static void
level_rule(void **state)
{
	struct zt_reader *r = open_fixture(state);
	struct zt_target t;

	assert_int_equal(zt_reader_resolve(r, 0, false, &t), 0);
	assert_int_equal(t.level, ZT_LEVEL_NATION);
	assert_int_equal(zt_reader_resolve(r, 330100, false, &t), 0);
	assert_int_equal(t.level, ZT_LEVEL_ZONE);
	assert_string_equal(t.name_en, "Hangzhou");
	assert_int_equal(t.province, 330000);
	assert_int_equal(zt_reader_resolve(r, 330000, false, &t), 0);
	assert_int_equal(t.level, ZT_LEVEL_PROVINCE);
	assert_string_equal(t.name_zh, "浙江省");
	/* 460000 is the Hainan zone; --province forces the province */
	assert_int_equal(zt_reader_resolve(r, 460000, false, &t), 0);
	assert_int_equal(t.level, ZT_LEVEL_ZONE);
	assert_int_equal(zt_reader_resolve(r, 460000, true, &t), 0);
	assert_int_equal(t.level, ZT_LEVEL_PROVINCE);
	assert_int_equal(zt_reader_resolve(r, 999999, false, &t), -ENOENT);
	assert_int_equal(zt_reader_resolve(r, 990000, false, &t), -ENOENT);
	assert_int_equal(zt_reader_resolve(r, 330100, true, &t), -ENOENT);
	zt_reader_free(r);
}

static void
totals(void **state)
{
	struct zt_reader *r = open_fixture(state);
	struct zt_totals_block b;
	struct zt_period day = {.gran = ZT_GRAN_DAY, .bucket = 20221111};
	struct zt_period month = {.gran = ZT_GRAN_MONTH, .bucket = 202211};

	assert_int_equal(zt_reader_begin(r), 0);
	assert_int_equal(zt_reader_get(r, ZT_LEVEL_ZONE, 330100, &day, &b), 0);
	assert_int_equal(b.t[ZT_DIR_ALL][ZT_MODE_ALL].events, 2);
	assert_int_equal(b.t[ZT_DIR_ALL][ZT_MODE_ALL].value_fen, 12445);
	assert_int_equal(b.t[ZT_DIR_EXPORT][ZT_MODE_9610].value_fen, 12345);
	assert_int_equal(b.t[ZT_DIR_IMPORT][ZT_MODE_1210].items, 2);
	assert_int_equal(b.t[ZT_DIR_IMPORT][ZT_MODE_9610].events, 0);
	assert_int_equal(zt_reader_get(r, ZT_LEVEL_PROVINCE, 330000, &month, &b), 0);
	assert_int_equal(b.t[ZT_DIR_ALL][ZT_MODE_ALL].events, 3);
	assert_int_equal(b.t[ZT_DIR_EXPORT][ZT_MODE_9710].value_fen, 5000000);
	assert_int_equal(zt_reader_get(r, ZT_LEVEL_NATION, 0, &day, &b), 0);
	assert_int_equal(b.t[ZT_DIR_ALL][ZT_MODE_ALL].events, 2); /* 460000 was rejected */
	zt_reader_end(r);
	zt_reader_free(r);
}

struct days {
	uint32_t day[4];
	int64_t events[4];
	size_t n;
};

static int
day_cb(uint32_t yyyymmdd, const struct zt_totals *t, void *arg)
{
	struct days *d = arg;

	if (d->n == 4)
		return -1;
	d->day[d->n] = yyyymmdd;
	d->events[d->n++] = t->events;
	return 0;
}

static void
days_scan(void **state)
{
	struct zt_reader *r = open_fixture(state);
	struct days d = {0};

	assert_int_equal(zt_reader_days(r, ZT_LEVEL_NATION, 0, 20221101, 20221130, day_cb, &d), 0);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.day[0], 20221111);
	assert_int_equal(d.events[0], 2);
	assert_int_equal(d.day[1], 20221112);
	assert_int_equal(d.events[1], 1);
	d.n = 0;
	assert_int_equal(
	    zt_reader_days(r, ZT_LEVEL_ZONE, 330200, 20221112, 20221112, day_cb, &d), 0);
	assert_int_equal(d.n, 1);
	zt_reader_free(r);
}

static void
zones_and_stats(void **state)
{
	struct zt_reader *r = open_fixture(state);
	const struct zt_zone *z;
	struct zt_counters c;

	assert_int_equal(zt_reader_zones(r, &z), 181);
	assert_int_equal(z[0].code, 110100);
	assert_int_equal(zt_store_counters(zt_reader_store(r), &c), 0);
	assert_int_equal(c.received, 4);
	assert_int_equal(c.by_reason[ZT_REJECT_ZONE_NOT_VALID], 1);
	zt_reader_free(r);
}

static void
no_store(void **state)
{
	struct zt_reader *r = NULL;
	char dir[] = "/tmp/zt-reader-empty.XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(zt_reader_open(dir, &r), ZT_E_NOSTORE);
	assert_null(r);
	assert_null(zt_reader_free(NULL));
	(void)rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(level_rule),
	    cmocka_unit_test(totals),
	    cmocka_unit_test(days_scan),
	    cmocka_unit_test(zones_and_stats),
	    cmocka_unit_test(no_store),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
