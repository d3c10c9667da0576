/*
 * replay.c: runs a fuzz target over every file of the corpus directories given on the
 * command line, so that each past finding stays a regression test under ctest (built with
 * any compiler, with or without sanitizers; no libFuzzer needed).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Reads a whole file; returns its bytes (caller frees) or NULL. */
static uint8_t *
slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *nb = realloc(buf, cap);
			if (nb == NULL)
				break;
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	(void)fclose(f);
	*ret_len = len;
	return buf;
}

static int
replay_dir(const char *dirpath, size_t *count)
{
	DIR *d = opendir(dirpath);
	struct dirent *de;
	char path[4096];

	if (d == NULL) {
		perror(dirpath);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		size_t len = 0;
		if (snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name) >=
		        (int)sizeof(path) ||
		    stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		uint8_t *buf = slurp(path, &len);
		if (buf == NULL && len > 0) {
			perror(path);
			(void)closedir(d);
			return -1;
		}
		(void)LLVMFuzzerTestOneInput(buf != NULL ? buf : (const uint8_t *)"", len);
		free(buf);
		(*count)++;
	}
	(void)closedir(d);
	return 0;
}

int
main(int argc, char **argv)
{
	size_t count = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++)
		if (replay_dir(argv[i], &count) < 0)
			rc = 1;
	printf("replayed %zu inputs\n", count);
	return rc != 0 || count == 0 ? 1 : 0;
}
