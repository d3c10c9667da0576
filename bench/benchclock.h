/*
 * benchclock.h: the clock and the sort order every benchmark program times with. A header
 * of its own, so that the raw ceiling programs stay free of the project's libraries while
 * all of them read the same monotonic clock.
 */
#ifndef ZT_BENCHCLOCK_H
#define ZT_BENCHCLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
bench_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline double
bench_now_s(void)
{
	return (double)bench_now_ns() / 1e9;
}

/* qsort order of int64_t samples, for percentiles. */
static inline int
bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

#endif /* ZT_BENCHCLOCK_H */
