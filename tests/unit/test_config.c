/*
 * test_config.c: the configuration file parser (zt_config.h): defaults, every key, unknown
 * sections and keys, strict numbers, file:line in error texts, and validation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "zt_config.h"

static char dir[] = "/tmp/zt-test-config-XXXXXX";
static char path[64];

/* Writes text to the test's config file and returns its path. */
static const char *
write_conf(const char *text)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Loads text over the defaults; returns zt_config_load's result, leaves the error in err. */
static int
load(struct zt_config *c, const char *text, char *err, size_t errlen)
{
	assert_int_equal(zt_config_init(c), 0);
	return zt_config_load(c, write_conf(text), err, errlen);
}

static void
test_defaults(void **state)
{
	struct zt_config c;
	char err[ZT_CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(zt_config_init(&c), 0);
	assert_string_equal(c.state_dir, "/var/lib/zonetally");
	assert_string_equal(c.zones_file, "/usr/share/zonetally/zones.csv");
	assert_int_equal(c.log_level, ZT_LOG_INFO);
	assert_int_equal(c.n_sub_bind, 1);
	assert_string_equal(c.sub_bind[0], "tcp://127.0.0.1:7601");
	assert_int_equal(c.n_sub_connect, 0);
	assert_string_equal(c.subscribe, "ev.");
	assert_int_equal(c.max_message_bytes, 4096);
	assert_int_equal(c.rcvhwm, 100000);
	assert_int_equal(c.batch_max_events, 10000);
	assert_int_equal(c.batch_max_ms, 5);
	assert_int_equal(c.dedup_window_days, 35);
	assert_int_equal(c.future_tolerance_s, 300);
	assert_true(c.max_value_fen == 100000000000LL);
	assert_int_equal(c.map_size_mb, 1024);
	assert_int_equal(c.rejects_max, 10000);
	assert_int_equal(c.query_max_pending, 256); /* issue 14: the readers' bounded shares */
	assert_int_equal(c.query_max_per_client, 16);
	assert_int_equal(c.feed_max_watchers, 64);
	assert_true(c.feed_watcher_max_bytes == 16u << 20);
	assert_int_equal(c.feed_watcher_timeout_ms, 10000);
	assert_int_equal(c.reader_warn_s, 300); /* issue 14 */
	assert_int_equal(c.http_max_connections, 256);
	assert_int_equal(c.http_max_per_address, 16);
	assert_int_equal(c.http_header_timeout_s, 5);
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), 0);
	zt_config_done(&c);
	zt_config_done(&c); /* idempotent */
}

static void
test_every_key(void **state)
{
	struct zt_config c;
	char err[ZT_CONFIG_ERR_LEN] = "";

	(void)state;
	int r = load(&c,
	    "; a comment\n"
	    "[daemon]\nstate_dir = /srv/zt\nzones_file =\nlog_level = debug\n"
	    "[ingest]\nsub_bind = tcp://127.0.0.1:* ipc:///tmp/zt.sock\n"
	    "sub_connect = tcp://10.0.0.1:5555\nsubscribe = ev.33\n"
	    "max_message_bytes = 8192\nrcvhwm = 0\n"
	    "[batch]\nmax_events = 500\nmax_ms = 0\n"
	    "[validation]\ndedup_window_days = 400\nfuture_tolerance_s = 60\n"
	    "max_value_fen = 9223372036854775807\n"
	    "[store]\nmap_size_mb = 64\nrejects_max = 0\n",
	    err, sizeof(err));
	assert_int_equal(r, 0);
	assert_string_equal(c.state_dir, "/srv/zt");
	assert_string_equal(c.zones_file, "");
	assert_int_equal(c.log_level, ZT_LOG_DEBUG);
	assert_int_equal(c.n_sub_bind, 2);
	assert_string_equal(c.sub_bind[0], "tcp://127.0.0.1:*");
	assert_string_equal(c.sub_bind[1], "ipc:///tmp/zt.sock");
	assert_int_equal(c.n_sub_connect, 1);
	assert_string_equal(c.sub_connect[0], "tcp://10.0.0.1:5555");
	assert_string_equal(c.subscribe, "ev.33");
	assert_int_equal(c.max_message_bytes, 8192);
	assert_int_equal(c.rcvhwm, 0);
	assert_int_equal(c.batch_max_events, 500);
	assert_int_equal(c.batch_max_ms, 0);
	assert_int_equal(c.dedup_window_days, 400);
	assert_int_equal(c.future_tolerance_s, 60);
	assert_true(c.max_value_fen == INT64_MAX);
	assert_int_equal(c.map_size_mb, 64);
	assert_int_equal(c.rejects_max, 0);
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), 0);
	zt_config_done(&c);
}

/* Asserts that text fails with -EINVAL and an error text starting with "PATH:LINE: " and
 * containing what. */
static void
expect_error(const char *text, unsigned line, const char *what)
{
	struct zt_config c;
	char err[ZT_CONFIG_ERR_LEN] = "", prefix[128];

	assert_int_equal(load(&c, text, err, sizeof(err)), -EINVAL);
	(void)snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, what) == NULL)
		fail_msg("error '%s': expected prefix '%s' and '%s'", err, prefix, what);
	zt_config_done(&c);
}

static void
test_unknown(void **state)
{
	(void)state;
	expect_error("[daemon]\nstate_dir = /x\nbogus = 1\n", 3, "key 'bogus': unknown key");
	expect_error("[ingest]\n\n[nope]\nkey = 1\n", 4, "section '[nope]': unknown section");
	expect_error("state_dir = /x\n", 1, "unknown");
	expect_error("[daemon]\nthis is not a pair\n", 2, "syntax error");
	/* The first error wins, whatever its kind. */
	expect_error("[daemon]\nnonsense\n[batch]\nmax_events = x\n", 2, "syntax error");
	expect_error("[batch]\nmax_events = x\nnonsense\n", 2, "key 'max_events'");
}

static void
test_bad_numbers(void **state)
{
	(void)state;
	expect_error("[batch]\nmax_events = 12x\n", 2,
	    "key 'max_events': not a whole decimal number: '12x'");
	expect_error(
	    "[batch]\nmax_events = -1\n", 2, "key 'max_events': not a whole decimal number");
	expect_error("[batch]\nmax_events = +5\n", 2, "not a whole decimal number");
	expect_error("[batch]\nmax_events = 0x10\n", 2, "not a whole decimal number");
	expect_error("[batch]\nmax_events =\n", 2, "not a whole decimal number");
	expect_error("[batch]\nmax_events = 1.5\n", 2, "not a whole decimal number");
	expect_error("[batch]\nmax_events = 0\n", 2, "key 'max_events': out of range");
	expect_error("[batch]\nmax_events = 1000001\n", 2, "out of range");
	expect_error(
	    "[batch]\nmax_ms = 99999999999999999999999\n", 2, "key 'max_ms': out of range");
	expect_error("[validation]\nmax_value_fen = 9223372036854775808\n", 2, "out of range");
	expect_error("[validation]\nmax_value_fen = -5\n", 2, "out of range");
	expect_error("[validation]\nmax_value_fen = 0\n", 2, "out of range");
	expect_error("[ingest]\nmax_message_bytes = 4294967296\n", 2, "out of range");
	expect_error("[store]\nmap_size_mb = 18446744073709551616\n", 2, "out of range");
	expect_error("[daemon]\nlog_level = loud\n", 2,
	    "key 'log_level': expected error, warning, info or debug");
	expect_error("[ingest]\nsub_bind = a://1 a://2 a://3 a://4 a://5 a://6 a://7 a://8 a://9\n",
	    2, "too many endpoints");
}

static void
test_missing_file(void **state)
{
	struct zt_config c;
	char err[ZT_CONFIG_ERR_LEN] = "";

	(void)state;
	assert_int_equal(zt_config_init(&c), 0);
	assert_int_equal(
	    zt_config_load(&c, "/nonexistent/zonetallyd.conf", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/zonetallyd.conf"));
	zt_config_done(&c);
}

static void
test_validate(void **state)
{
	struct zt_config c;
	char err[ZT_CONFIG_ERR_LEN] = "";

	(void)state;
	assert_int_equal(load(&c, "[ingest]\nsub_bind =\n", err, sizeof(err)), 0);
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at least one endpoint"));
	assert_int_equal(zt_config_set_string(&c.sub_connect[0], "tcp://127.0.0.1:9"), 0);
	c.n_sub_connect = 1;
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), 0);
	zt_config_done(&c);

	assert_int_equal(load(&c, "[ingest]\nsub_bind = localhost:7601\n", err, sizeof(err)), 0);
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sub_bind"));
	zt_config_done(&c);

	assert_int_equal(load(&c, "[daemon]\nstate_dir =\n", err, sizeof(err)), 0);
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "state_dir"));
	zt_config_done(&c);

	/* one client's share cannot exceed the whole queue */
	assert_int_equal(
	    load(&c, "[query]\nmax_pending = 8\nmax_per_client = 9\n", err, sizeof(err)), 0);
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[query] max_per_client: must not exceed max_pending"));
	zt_config_done(&c);
	assert_int_equal(
	    load(&c, "[query]\nmax_pending = 8\nmax_per_client = 8\n", err, sizeof(err)), 0);
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), 0);
	zt_config_done(&c);
	expect_error("[feed]\nmax_watchers = 0\n", 2, "max_watchers");
	expect_error("[feed]\nwatcher_max_bytes = 1024\n", 2, "watcher_max_bytes");
	/* issue 14: more per address than in all would make the per-address limit a lie */
	assert_int_equal(load(&c, "[metrics]\nhttp_max_connections = 8\nhttp_max_per_address = 9\n",
	                     err, sizeof(err)),
	    0);
	assert_int_equal(zt_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http_max_per_address"));
	zt_config_done(&c);
}

static void
test_set_string(void **state)
{
	struct zt_config c;

	(void)state;
	assert_int_equal(zt_config_init(&c), 0);
	assert_int_equal(zt_config_set_string(&c.state_dir, "/tmp/elsewhere"), 0);
	assert_string_equal(c.state_dir, "/tmp/elsewhere");
	zt_config_done(&c);
	assert_null(c.state_dir);
}

/* Counts the keys zt_config_diff() reports, split by reloadability. */
static void
count_diff(const char *section, const char *key, bool reloadable, void *arg)
{
	int *n = arg;

	(void)section;
	(void)key;
	n[reloadable ? 0 : 1]++;
}

/* Reload's merge: the new file's live keys, the running restart-only keys. */
static void
test_diff_and_copy(void **state)
{
	struct zt_config run, next;
	char err[ZT_CONFIG_ERR_LEN] = "";
	int n[2] = {0, 0};

	(void)state;
	assert_int_equal(zt_config_init(&run), 0);
	assert_int_equal(load(&next,
	                     "[daemon]\nlog_level = debug\n[batch]\nmax_events = 7\n"
	                     "[ingest]\nsub_bind = tcp://127.0.0.1:9 ipc:///x\n"
	                     "[metrics]\nlisten = off\n",
	                     err, sizeof(err)),
	    0);
	assert_int_equal(zt_config_diff(&run, &run, count_diff, n), 0);
	assert_int_equal(zt_config_diff(&run, &next, count_diff, n), 4);
	assert_int_equal(n[0], 2); /* log_level, max_events */
	assert_int_equal(n[1], 2); /* sub_bind, listen */
	assert_int_equal(zt_config_copy_keys(&next, &run, false), 0);
	assert_int_equal(next.n_sub_bind, 1);
	assert_string_equal(next.sub_bind[0], "tcp://127.0.0.1:7601");
	assert_string_equal(next.metrics_listen, "127.0.0.1:9464");
	assert_int_equal(next.log_level, ZT_LOG_DEBUG);
	assert_int_equal(next.batch_max_events, 7);
	assert_int_equal(zt_config_diff(&run, &next, NULL, NULL), 2);
	zt_config_done(&next);
	zt_config_done(&run);
}

static void
test_metrics_listen(void **state)
{
	struct zt_config c;
	char err[ZT_CONFIG_ERR_LEN] = "";
	const char *good[] = {"off", "", "0.0.0.0:0", "127.0.0.1:9464"};
	const char *bad[] = {"localhost:9464", "127.0.0.1", "127.0.0.1:70000", "1.2.3.4:5x"};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(zt_config_init(&c), 0);
		assert_int_equal(zt_config_set_string(&c.metrics_listen, good[i]), 0);
		assert_int_equal(zt_config_validate(&c, err, sizeof(err)), 0);
		assert_int_equal(zt_config_set_string(&c.metrics_listen, bad[i]), 0);
		assert_int_equal(zt_config_validate(&c, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "[metrics] listen"));
		zt_config_done(&c);
	}
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	(void)snprintf(path, sizeof(path), "%s/zonetallyd.conf", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)unlink(path);
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_bad_numbers),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_set_string),
	    cmocka_unit_test(test_diff_and_copy),
	    cmocka_unit_test(test_metrics_listen),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
