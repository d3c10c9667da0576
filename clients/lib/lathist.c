/*
 * lathist.c: a latency histogram of bounded size and ~3 % precision (log-linear buckets:
 * exact below 64, then 32 buckets per power of two), so that a publisher can report
 * percentiles of millions of acknowledgements without keeping each one.
 */
#include "pubconn.h"

/* Bucket of v: v itself below 64; then the power of two and the next 5 bits below it. */
static size_t
bucket_of(uint64_t v)
{
	if (v < 64)
		return (size_t)v;
	int e = 63 - __builtin_clzll(v); /* >= 6 */
	if (e > LATHIST_MAX_EXP)
		return LATHIST_BUCKETS - 1;
	return 64 + (size_t)(e - 6) * 32 + (size_t)((v >> (e - 5)) & 31);
}

/* The smallest value of bucket i (the inverse of bucket_of). */
static uint64_t
bucket_floor(size_t i)
{
	if (i < 64)
		return i;
	size_t e = (i - 64) / 32 + 6, sub = (i - 64) % 32;
	return (uint64_t)(32 + sub) << (e - 5);
}

void
lathist_add(struct lathist *h, uint64_t v)
{
	h->bucket[bucket_of(v)]++;
	h->n++;
}

uint64_t
lathist_quantile(const struct lathist *h, double q)
{
	if (h->n == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)(h->n - 1)), seen = 0;
	for (size_t i = 0; i < LATHIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > rank)
			return bucket_floor(i);
	}
	return bucket_floor(LATHIST_BUCKETS - 1);
}
