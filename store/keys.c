/*
 * keys.c: the 12-byte big-endian totals key (level, code, granularity, bucket, direction,
 * mode) and the bucket of an event time at each granularity. Big-endian so that LMDB's
 * memcmp order is the numeric order of the fields, in the order they are listed.
 */
#include "store_int.h"

void
zt_tkey_encode(const struct zt_tkey *k, uint8_t out[ZT_TKEY_LEN])
{
	out[0] = k->level;
	be32_put(out + 1, k->code);
	out[5] = k->gran;
	be32_put(out + 6, k->bucket);
	out[10] = k->direction;
	out[11] = k->mode;
}

int
zt_tkey_decode(const void *buf, size_t len, struct zt_tkey *ret)
{
	const uint8_t *p = buf;
	if (len != ZT_TKEY_LEN)
		return ZT_E_CORRUPT;
	if (p[0] >= ZT_LEVEL__COUNT || p[5] >= ZT_GRAN__COUNT || p[10] >= ZT_DIR__COUNT ||
	    p[11] >= ZT_MODE__COUNT)
		return ZT_E_CORRUPT;
	*ret = (struct zt_tkey){
	    .level = p[0],
	    .code = be32_get(p + 1),
	    .gran = p[5],
	    .bucket = be32_get(p + 6),
	    .direction = p[10],
	    .mode = p[11],
	};
	return 0;
}

uint32_t
zt_bucket_of(int gran, int64_t unix_ms)
{
	switch (gran) {
	case ZT_GRAN_YEAR:
		return zt_cst_day(unix_ms) / 10000;
	case ZT_GRAN_MONTH:
		return zt_cst_day(unix_ms) / 100;
	case ZT_GRAN_DAY:
		return zt_cst_day(unix_ms);
	default:
		return 0;
	}
}
