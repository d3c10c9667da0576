/*
 * test_keys.c: the totals key encoding sorts by level, code, granularity, bucket,
 * direction, mode (in that priority), round-trips, and rejects impossible keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "store.h"

static int
key_cmp(const struct zt_tkey *a, const struct zt_tkey *b)
{
	uint8_t x[ZT_TKEY_LEN], y[ZT_TKEY_LEN];
	zt_tkey_encode(a, x);
	zt_tkey_encode(b, y);
	int c = memcmp(x, y, ZT_TKEY_LEN);
	return c < 0 ? -1 : c > 0;
}

static void
test_order(void **state)
{
	(void)state;
	/* each pair differs in one field; the lower field must win over every later one */
	struct zt_tkey base = {ZT_LEVEL_PROVINCE, 330000, ZT_GRAN_DAY, 20221111, 2, 5};
	struct zt_tkey k;
	k = base;
	k.level = ZT_LEVEL_ZONE;
	k.code = 110000;
	k.gran = ZT_GRAN_ALL;
	k.bucket = 0;
	assert_int_equal(key_cmp(&base, &k), -1); /* level first */
	k = base;
	k.code = 330001;
	k.gran = ZT_GRAN_ALL;
	assert_int_equal(key_cmp(&base, &k), -1); /* then code */
	k = base;
	k.code = 65536; /* big-endian: 0x00010000 < 330000 */
	assert_int_equal(key_cmp(&base, &k), 1);
	k = base;
	k.gran = ZT_GRAN_MONTH;
	k.bucket = 99999999;
	assert_int_equal(key_cmp(&base, &k), 1); /* then granularity */
	k = base;
	k.bucket = 20221112;
	k.direction = 0;
	k.mode = 0;
	assert_int_equal(key_cmp(&base, &k), -1); /* then bucket */
	k = base;
	k.bucket = 20221031;
	assert_int_equal(key_cmp(&base, &k), 1);
	k = base;
	k.direction = 1;
	k.mode = 5;
	assert_int_equal(key_cmp(&base, &k), 1); /* then direction */
	k = base;
	k.mode = 4;
	assert_int_equal(key_cmp(&base, &k), 1); /* then mode */
	assert_int_equal(key_cmp(&base, &base), 0);
}

static void
test_roundtrip(void **state)
{
	(void)state;
	struct zt_tkey k = {
	    ZT_LEVEL_ZONE, 460000, ZT_GRAN_MONTH, 202211, ZT_DIR_EXPORT, ZT_MODE_9810};
	uint8_t b[ZT_TKEY_LEN];
	struct zt_tkey r;
	zt_tkey_encode(&k, b);
	assert_int_equal(b[0], ZT_LEVEL_ZONE);
	assert_int_equal(b[11], ZT_MODE_9810);
	assert_int_equal(zt_tkey_decode(b, sizeof(b), &r), 0);
	assert_int_equal(r.level, k.level);
	assert_int_equal(r.code, k.code);
	assert_int_equal(r.gran, k.gran);
	assert_int_equal(r.bucket, k.bucket);
	assert_int_equal(r.direction, k.direction);
	assert_int_equal(r.mode, k.mode);
	assert_int_equal(zt_tkey_decode(b, 11, &r), ZT_E_CORRUPT);
	b[0] = ZT_LEVEL__COUNT;
	assert_int_equal(zt_tkey_decode(b, sizeof(b), &r), ZT_E_CORRUPT);
	b[0] = 0;
	b[11] = ZT_MODE__COUNT;
	assert_int_equal(zt_tkey_decode(b, sizeof(b), &r), ZT_E_CORRUPT);
	b[11] = 0;
	b[10] = ZT_DIR__COUNT;
	assert_int_equal(zt_tkey_decode(b, sizeof(b), &r), ZT_E_CORRUPT);
	b[10] = 0;
	b[5] = ZT_GRAN__COUNT;
	assert_int_equal(zt_tkey_decode(b, sizeof(b), &r), ZT_E_CORRUPT);
}

static void
test_buckets(void **state)
{
	(void)state;
	int64_t t = 1668096000000LL; /* 2022-11-11 00:00 CST */
	assert_int_equal(zt_bucket_of(ZT_GRAN_ALL, t), 0);
	assert_int_equal(zt_bucket_of(ZT_GRAN_YEAR, t), 2022);
	assert_int_equal(zt_bucket_of(ZT_GRAN_MONTH, t), 202211);
	assert_int_equal(zt_bucket_of(ZT_GRAN_DAY, t), 20221111);
	assert_int_equal(zt_bucket_of(ZT_GRAN_DAY, t - 1), 20221110);
	assert_int_equal(zt_bucket_of(ZT_GRAN_YEAR, 1672502400000LL - 1), 2022);
	assert_int_equal(zt_bucket_of(ZT_GRAN_YEAR, 1672502400000LL), 2023);
	assert_int_equal(zt_bucket_of(ZT_GRAN_MONTH, 1672502400000LL), 202301);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_buckets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
