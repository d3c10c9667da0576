/*
 * test_registry.c: the real data/zones.csv parses to 181 zones; malformed lines fail with
 * the right line number; province names; zone validity years.
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

#include "store.h"

#define HDR "code,city_en,city_zh,province_en,batch,approved_year,revoked_year,name_check\n"

static void
test_real_file(void **state)
{
	(void)state;
	struct zt_zone *z = NULL;
	size_t line = 0;
	int n = zt_registry_load_file(ZT_ZONES_CSV, &z, &line);
	assert_int_equal(n, 181);
	for (int i = 1; i < n; i++)
		assert_true(z[i - 1].code < z[i].code);
	const struct zt_zone *hz = NULL, *haikou = NULL, *hainan = NULL;
	for (int i = 0; i < n; i++) {
		if (z[i].code == 330100)
			hz = &z[i];
		if (z[i].code == 460100)
			haikou = &z[i];
		if (z[i].code == 460000)
			hainan = &z[i];
	}
	assert_non_null(hz);
	if (hz == NULL)
		return; /* tells the optimiser what assert_non_null() already checked */
	assert_string_equal(hz->city_en, "Hangzhou");
	assert_string_equal(hz->city_zh, "杭州市");
	assert_int_equal(hz->province, 330000);
	assert_int_equal(hz->batch, 1);
	assert_int_equal(hz->approved_year, 2015);
	assert_true(zt_zone_valid_in(hz, 2015));
	assert_false(zt_zone_valid_in(hz, 2014));
	assert_non_null(haikou);
	assert_int_equal(haikou->revoked_year, 2025);
	assert_true(zt_zone_valid_in(haikou, 2024));
	assert_false(zt_zone_valid_in(haikou, 2025));
	assert_non_null(hainan);
	assert_int_equal(hainan->province, 460000);
	assert_false(zt_zone_valid_in(hainan, 2024));
	assert_true(zt_zone_valid_in(hainan, 2025));
	free(z);
	assert_int_equal(zt_registry_load_file("/nonexistent/zones.csv", &z, &line), -ENOENT);
}

static void
test_provinces(void **state)
{
	(void)state;
	int n = 0;
	for (uint32_t c = 110000; c <= 820000; c += 10000)
		if (zt_province_name(c, false) != NULL) {
			assert_non_null(zt_province_name(c, true));
			n++;
		}
	assert_int_equal(n, 31);
	assert_string_equal(zt_province_name(330000, false), "Zhejiang");
	assert_string_equal(zt_province_name(330000, true), "浙江省");
	assert_string_equal(zt_province_name(150000, false), "Inner Mongolia");
	assert_null(zt_province_name(330100, false));
	assert_null(zt_province_name(0, true));
}

/* Parses text and returns the error line (0 on success). */
static size_t
bad_line(const char *text)
{
	struct zt_zone *z = NULL;
	size_t line = 0;
	int rc = zt_registry_parse(text, strlen(text), &z, &line);
	if (rc > 0) {
		free(z);
		return 0;
	}
	assert_int_equal(rc, ZT_E_CSV);
	return line;
}

static void
test_malformed(void **state)
{
	(void)state;
	const char *ok1 = "330100,Hangzhou,杭州市,Zhejiang,1,2015,,read\n";
	const char *ok2 = "120100,Tianjin,天津市,Tianjin,2,2016,,read\n";
	char buf[1024];
	snprintf(buf, sizeof(buf), HDR "%s%s", ok1, ok2);
	assert_int_equal(bad_line(buf), 0);
	struct {
		const char *row;
		const char *why;
	} cases[] = {
	    {"33010,Hangzhou,杭州市,Zhejiang,1,2015,,read\n", "5-digit code"},
	    {"3301x0,Hangzhou,杭州市,Zhejiang,1,2015,,read\n", "non-digit code"},
	    {"990100,Nowhere,无,Zhejiang,1,2015,,read\n", "unknown province"},
	    {"330100,Hangzhou,杭州市,Jiangsu,1,2015,,read\n", "wrong province name"},
	    {"330200,Ningbo,宁波市,Zhejiang,2,16,,read\n", "bad year"},
	    {"330200,Ningbo,宁波市,Zhejiang,2,2016,2016,read\n", "revoked not after approval"},
	    {"330200,Ningbo,宁波市,Zhejiang,2,2016,read\n", "missing column"},
	    {"330200,Ningbo,宁波市,Zhejiang,2,2016,,read,x\n", "extra column"},
	    {"330200,Ningbo,宁波市,Zhejiang,0,2016,,read\n", "batch 0"},
	    {"330200,Ningbo,宁波市,Zhejiang,2,2016,,maybe\n", "bad name_check"},
	    {"330200,,宁波市,Zhejiang,2,2016,,read\n", "empty name"},
	    {"330200,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,宁波市,Zhejiang,2,2016,,"
	     "read\n",
	        "overlong name (48 bytes)"},
	    {"330100,Hangzhou,杭州市,Zhejiang,1,2015,,read\n", "duplicate code"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* the bad row is line 4: header, two good rows, then it, then a good row */
		snprintf(buf, sizeof(buf), HDR "%s%s%s%s", ok1, ok2, cases[i].row,
		    "310100,Shanghai,上海市,Shanghai,2,2016,,read\n");
		print_message("case: %s\n", cases[i].why);
		assert_int_equal(bad_line(buf), 4);
	}
	assert_int_equal(bad_line("code,city\n330100,Hangzhou\n"), 1);
	assert_int_equal(bad_line(HDR), 1);
	assert_int_equal(bad_line(""), 1);
	/* CRLF and a missing final newline are fine; a 47-byte name fits */
	snprintf(buf, sizeof(buf), "%s",
	    "code,city_en,city_zh,province_en,batch,approved_year,revoked_year,name_check\r\n"
	    "330100,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,杭州市,Zhejiang,1,2015,,read");
	assert_int_equal(bad_line(buf), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real_file),
	    cmocka_unit_test(test_provinces),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
