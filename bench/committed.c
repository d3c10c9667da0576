/*
 * committed.c: waits until a daemon's store has received (committed) at least TARGET
 * messages, polling its counters every millisecond through a read-only handle (a read
 * transaction costs microseconds: cheaper and finer than starting `zonetally stats`).
 *
 * usage: committed STATE_DIR TARGET TIMEOUT_S
 * Prints "received R accepted A rejected J at T" with T the CLOCK_MONOTONIC time [ns] of
 * the first poll that saw TARGET: the same clock as zonetally-pub's "start_mono_ns", so the
 * committed rate is (R - before) / (T - start). Exits 1 after TIMEOUT_S without it, having
 * printed the same line for the counters it saw last (what a capped run committed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "benchclock.h"

#include "zonetally.h"

int
main(int argc, char **argv)
{
	struct zt_reader *r;
	struct zt_counters c = {0};
	struct timespec ms = {.tv_nsec = 1000000};

	if (argc != 4) {
		fprintf(stderr, "usage: committed STATE_DIR TARGET TIMEOUT_S\n");
		return 2;
	}
	uint64_t target = strtoull(argv[2], NULL, 10);
	int64_t deadline = bench_now_ns() + (int64_t)strtoll(argv[3], NULL, 10) * 1000000000;
	int e = zt_reader_open(argv[1], &r);
	if (e < 0) {
		fprintf(stderr, "committed: %s: %s\n", argv[1], zt_strerror(e));
		return 1;
	}
	for (;;) {
		e = zt_store_counters(zt_reader_store(r), &c);
		int64_t now = bench_now_ns();
		if (e == 0 && c.received >= target) {
			printf("received %llu accepted %llu rejected %llu at %lld\n",
			    (unsigned long long)c.received, (unsigned long long)c.accepted,
			    (unsigned long long)c.rejected, (long long)now);
			break;
		}
		if (e < 0 || now > deadline) {
			fprintf(stderr, "committed: %llu of %llu after %s s: %s\n",
			    (unsigned long long)c.received, (unsigned long long)target, argv[3],
			    e < 0 ? zt_strerror(e) : "timed out");
			/* what was committed by the deadline: a capped run's figure */
			printf("received %llu accepted %llu rejected %llu at %lld\n",
			    (unsigned long long)c.received, (unsigned long long)c.accepted,
			    (unsigned long long)c.rejected, (long long)now);
			break;
		}
		(void)nanosleep(&ms, NULL);
	}
	zt_reader_free(r);
	return e == 0 && c.received >= target ? 0 : 1;
}
