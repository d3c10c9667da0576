/*
 * failalloc.h: force-included (`-include`) into zt_store and zt_daemon_core when the
 * test-only option ZT_FAILALLOC is on (never in Release builds or the .deb). It routes
 * malloc, calloc, realloc, strdup and strndup through countdown wrappers (failalloc.c) so
 * that a test can make the Nth allocation fail, as SQLite's test_malloc does: see
 * "Allocation failures" in docs/architecture.md and tests/integration/test_alloc_failure.py.
 */
#ifndef ZT_FAILALLOC_H
#define ZT_FAILALLOC_H

/* No system header here but stddef.h (which sets no feature macros): the sources define
 * _DEFAULT_SOURCE before their own includes. When stdlib.h and string.h come, the macros
 * below turn their declarations into compatible redeclarations of the wrappers. */
#include <stddef.h>

void *zt_fa_malloc(size_t size);
void *zt_fa_calloc(size_t n, size_t size);
void *zt_fa_realloc(void *p, size_t size);
char *zt_fa_strdup(const char *s);
char *zt_fa_strndup(const char *s, size_t n);

#define malloc(size)     zt_fa_malloc(size)
#define calloc(n, size)  zt_fa_calloc(n, size)
#define realloc(p, size) zt_fa_realloc(p, size)
#define strdup(s)        zt_fa_strdup(s)
#define strndup(s, n)    zt_fa_strndup(s, n)

#endif
