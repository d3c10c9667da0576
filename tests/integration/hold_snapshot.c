/*
 * hold_snapshot.c: a reader that holds one snapshot of a daemon's store until its standard
 * input closes (test_reader_pin: what a stuck monitoring reader does). Prints "held PID"
 * once the snapshot is taken.
 * usage: zt-hold-snapshot STATE_DIR
 */
#include <stdio.h>
#include <unistd.h>

#include "zonetally.h"

int
main(int argc, char **argv)
{
	struct zt_reader *r = NULL;
	char c;

	if (argc != 2) {
		(void)fprintf(stderr, "usage: zt-hold-snapshot STATE_DIR\n");
		return 2;
	}
	int e = zt_reader_open(argv[1], &r);
	if (e == 0)
		e = zt_reader_begin(r);
	if (e < 0) {
		(void)fprintf(stderr, "zt-hold-snapshot: %s\n", zt_strerror(e));
		zt_reader_free(r);
		return 1;
	}
	(void)printf("held %d\n", (int)getpid());
	(void)fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	zt_reader_end(r);
	zt_reader_free(r);
	return 0;
}
