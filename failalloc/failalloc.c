/*
 * failalloc.c: the countdown behind failalloc.h (test builds only). Every wrapped
 * allocation takes the next number, from 1, across all threads. The environment, read once
 * at start:
 *   ZT_FAILALLOC_AT=N       allocation number N fails (returns NULL, errno ENOMEM)
 *   ZT_FAILALLOC_PERSIST=1  ... and every later one too (memory that stays exhausted)
 *   ZT_FAILALLOC_REPORT=F   at exit, write "allocations A failed B" to file F, so that a
 *                           test learns how many allocations a workload makes
 * With ZT_FAILALLOC_AT unset nothing fails, and the wrappers only count.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"

#undef malloc
#undef calloc
#undef realloc
#undef strdup
#undef strndup

/* ASan's symbolized stack of the failing call, when the build has it. */
extern void __sanitizer_print_stack_trace(void) __attribute__((weak));

static atomic_ulong count, failed;
static unsigned long fail_at;
static int persist;
static const char *report_path;

static void
report(void)
{
	FILE *f = fopen(report_path, "w");

	if (f == NULL)
		return;
	(void)fprintf(f, "allocations %lu failed %lu\n", atomic_load(&count), atomic_load(&failed));
	(void)fclose(f);
}

__attribute__((constructor)) static void
failalloc_init(void)
{
	const char *at = getenv("ZT_FAILALLOC_AT"), *p = getenv("ZT_FAILALLOC_PERSIST");

	fail_at = at != NULL ? strtoul(at, NULL, 10) : 0;
	persist = p != NULL && strcmp(p, "1") == 0;
	report_path = getenv("ZT_FAILALLOC_REPORT");
	if (report_path != NULL)
		(void)atexit(report);
}

/* Takes the next number; true if that allocation is to fail. */
static int
fail_now(size_t size)
{
	unsigned long n = atomic_fetch_add(&count, 1) + 1;

	if (fail_at == 0 || (persist ? n < fail_at : n != fail_at))
		return 0;
	if (atomic_fetch_add(&failed, 1) == 0) {
		(void)fprintf(stderr, "zt_failalloc: allocation %lu (%zu bytes) fails%s\n", n, size,
		    persist ? ", and every later one" : "");
		if (__sanitizer_print_stack_trace != NULL)
			__sanitizer_print_stack_trace();
	}
	errno = ENOMEM;
	return 1;
}

void *
zt_fa_malloc(size_t size)
{
	return fail_now(size) ? NULL : malloc(size);
}

void *
zt_fa_calloc(size_t n, size_t size)
{
	return fail_now(n * size) ? NULL : calloc(n, size);
}

void *
zt_fa_realloc(void *p, size_t size)
{
	return fail_now(size) ? NULL : realloc(p, size);
}

char *
zt_fa_strdup(const char *s)
{
	return fail_now(strlen(s) + 1) ? NULL : strdup(s);
}

char *
zt_fa_strndup(const char *s, size_t n)
{
	return fail_now(n + 1) ? NULL : strndup(s, n);
}
