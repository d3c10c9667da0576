/*
 * example-reader.c: the smallest program on libzonetally's in-process reader. It opens a
 * daemon's store read-only (the daemon may be running: LMDB readers never block it),
 * prints today's national import and export totals, then walks Hangzhou's last days.
 *
 *   cc example-reader.c $(pkg-config --cflags --libs zonetally) -o example-reader
 *   ./example-reader /var/lib/zonetally
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <zonetally.h>

static int
print_day(uint32_t yyyymmdd, const struct zt_totals *t, void *arg)
{
	(void)arg;
	printf("  %u: %lld events, %lld fen\n", yyyymmdd, (long long)t->events,
	    (long long)t->value_fen);
	return 0; /* non-zero would stop the walk */
}

int
main(int argc, char **argv)
{
	struct zt_reader *r;
	struct zt_totals imp, exp;
	struct zt_period today = zt_period_day_of((int64_t)time(NULL) * 1000);
	int e;

	if (argc != 2) {
		fprintf(stderr, "usage: %s STATE_DIR\n", argv[0]);
		return 2;
	}
	if ((e = zt_reader_open(argv[1], &r)) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], zt_strerror(e));
		return 1;
	}
	/* one snapshot: the two numbers are consistent with each other */
	if ((e = zt_reader_begin(r)) < 0 ||
	    (e = zt_reader_total(r, ZT_LEVEL_NATION, 0, &today, ZT_DIR_IMPORT, ZT_MODE_ALL, &imp)) <
	        0 ||
	    (e = zt_reader_total(r, ZT_LEVEL_NATION, 0, &today, ZT_DIR_EXPORT, ZT_MODE_ALL, &exp)) <
	        0) {
		fprintf(stderr, "read: %s\n", zt_strerror(e));
		zt_reader_free(r);
		return 1;
	}
	zt_reader_end(r);
	printf("today: import %lld fen in %lld events, export %lld fen in %lld events\n",
	    (long long)imp.value_fen, (long long)imp.events, (long long)exp.value_fen,
	    (long long)exp.events);
	printf("Hangzhou (330100), last days:\n");
	e = zt_reader_days(
	    r, ZT_LEVEL_ZONE, 330100, today.bucket - 100, today.bucket, print_day, NULL);
	zt_reader_free(r);
	return e < 0 ? 1 : 0;
}
