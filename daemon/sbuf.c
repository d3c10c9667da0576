/*
 * sbuf.c: a growing text buffer for what the HTTP threads build (a scrape, a burst of
 * stream events). Out of memory is sticky: the caller checks `oom` once at the end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Makes room for `more` bytes and a NUL. */
static bool
reserve(struct sbuf *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->cap - b->len > more)
		return true;
	size_t cap = (b->cap + more + 1) * 2;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;

	for (int tries = 0; tries < 2 && reserve(b, 64); tries++) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		(void)reserve(b, (size_t)n);
	}
}

void
sb_append(struct sbuf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Frees the text and resets b. */
void
sb_done(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){0};
}
