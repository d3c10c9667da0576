/*
 * test_event.c: reason names, CST calendar edges (midnight UTC+8, month, year and leap
 * days) and the customs mode helpers of zt_event.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "zt_event.h"

#define NOV10_16Z 1668096000000LL /* 2022-11-10T16:00:00Z = 2022-11-11 00:00 CST */

static void
test_cst_midnight(void **state)
{
	(void)state;
	assert_int_equal(zt_cst_day(NOV10_16Z), 20221111);
	assert_int_equal(zt_cst_day(NOV10_16Z - 1), 20221110);
	assert_int_equal(zt_cst_day(NOV10_16Z + 86400000LL - 1), 20221111);
	assert_int_equal(zt_cst_day(0), 19700101);
	assert_int_equal(zt_cst_day(-28801000LL), 19691231);
	assert_int_equal(zt_cst_day(-28800000LL), 19700101);
	assert_int_equal(zt_cst_year(NOV10_16Z), 2022);
}

static void
test_cst_month_year_leap(void **state)
{
	(void)state;
	assert_int_equal(zt_cst_day(1669824000000LL - 1), 20221130);
	assert_int_equal(zt_cst_day(1669824000000LL), 20221201);
	assert_int_equal(zt_cst_day(1672502400000LL - 1), 20221231);
	assert_int_equal(zt_cst_day(1672502400000LL), 20230101);
	assert_int_equal(zt_cst_day(1709136000000LL), 20240229);
	assert_int_equal(zt_cst_day(1709222400000LL), 20240301);
	assert_true(zt_date_valid(20240229));
	assert_false(zt_date_valid(20230229));
	assert_true(zt_date_valid(20000229));
	assert_false(zt_date_valid(19000229));
	assert_false(zt_date_valid(20221131));
	assert_false(zt_date_valid(20221300));
	assert_false(zt_date_valid(20221200));
	assert_false(zt_date_valid(0));
}

static void
test_day_start(void **state)
{
	(void)state;
	assert_int_equal(zt_cst_day_start_ms(20221111), NOV10_16Z);
	assert_int_equal(zt_cst_day_start_ms(20230229), -1);
	assert_int_equal(zt_cst_day_start_ms(20240301), 1709222400000LL);
	/* every day of 1999..2031 round-trips, and consecutive days are 24 h apart */
	int64_t prev = zt_cst_day_start_ms(19990101);
	uint32_t n = 0;
	for (int64_t t = prev + 86400000LL; t < 1956528000000LL; t += 86400000LL, n++) {
		uint32_t d = zt_cst_day(t);
		assert_true(zt_date_valid(d));
		assert_int_equal(zt_cst_day_start_ms(d), t);
		assert_int_equal(zt_cst_day(t - 1), zt_cst_day(prev));
		prev = t;
	}
	assert_true(n > 11000);
	/* extreme inputs neither overflow nor leave 1..9999 */
	assert_true(zt_date_valid(zt_cst_day(INT64_MAX)));
	assert_true(zt_date_valid(zt_cst_day(INT64_MIN)));
}

static void
test_reason_names(void **state)
{
	(void)state;
	assert_string_equal(zt_reject_name(ZT_REJECT_NONE), "none");
	assert_string_equal(zt_reject_name(ZT_REJECT_UNKNOWN_ZONE), "unknown_zone");
	assert_string_equal(zt_reject_name(ZT_REJECT_OVERFLOW), "overflow");
	assert_string_equal(zt_reject_name(ZT_REJECT__COUNT), "invalid");
	assert_string_equal(zt_reject_name(-1), "invalid");
	for (int i = 0; i < ZT_REJECT__COUNT; i++) {
		assert_non_null(zt_reject_name(i));
		assert_true(strlen(zt_reject_text(i)) > 5);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(zt_reject_name(i), zt_reject_name(j));
	}
}

static void
test_modes(void **state)
{
	(void)state;
	assert_int_equal(zt_mode_number(ZT_MODE_9610), 9610);
	assert_int_equal(zt_mode_number(ZT_MODE_1239), 1239);
	assert_int_equal(zt_mode_number(ZT_MODE_ALL), 0);
	assert_int_equal(zt_mode_number(99), 0);
	assert_int_equal(zt_mode_from_number(9810), ZT_MODE_9810);
	assert_int_equal(zt_mode_from_number(1210), ZT_MODE_1210);
	assert_int_equal(zt_mode_from_number(0), -1);
	assert_int_equal(zt_mode_from_number(9999), -1);
	assert_true(zt_mode_allows(ZT_MODE_9610, ZT_DIR_IMPORT));
	assert_true(zt_mode_allows(ZT_MODE_9610, ZT_DIR_EXPORT));
	assert_false(zt_mode_allows(ZT_MODE_9710, ZT_DIR_IMPORT));
	assert_true(zt_mode_allows(ZT_MODE_9810, ZT_DIR_EXPORT));
	assert_false(zt_mode_allows(ZT_MODE_1239, ZT_DIR_EXPORT));
	assert_true(zt_mode_allows(ZT_MODE_1239, ZT_DIR_IMPORT));
	assert_false(zt_mode_allows(ZT_MODE_ALL, ZT_DIR_IMPORT));
	assert_false(zt_mode_allows(ZT_MODE_1210, ZT_DIR_ALL));
	assert_int_equal(zt_province_of(330782), 330000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cst_midnight),
	    cmocka_unit_test(test_cst_month_year_leap),
	    cmocka_unit_test(test_day_start),
	    cmocka_unit_test(test_reason_names),
	    cmocka_unit_test(test_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
