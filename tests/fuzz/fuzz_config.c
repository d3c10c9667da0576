/*
 * fuzz_config.c: fuzz target of the configuration parser (daemon/config.c). One input is a
 * whole configuration file: loaded, validated and compared with the defaults the way
 * zonetallyd, SIGHUP and `zonetally check-config` do, then freed. libinih reads files only,
 * so the input goes through one scratch file per process, unlinked at once and reached
 * through /proc/self/fd: nothing is left behind, whatever stops the process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "zt_config.h"

static int fd = -1;
static char path[64];

/* Creates the scratch file, once. */
static void
init(void)
{
	char tmpl[] = "/tmp/zt-fuzz-config-XXXXXX";

	if ((fd = mkstemp(tmpl)) < 0 || unlink(tmpl) < 0)
		abort();
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
}

/* Counts differing keys; the callback must cope with whatever the parser accepted. */
static void
count_diff(const char *section, const char *key, bool reloadable, void *arg)
{
	(void)section;
	(void)key;
	(void)reloadable;
	(*(unsigned *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_config c, defaults;
	char err[512];
	unsigned n = 0;

	if (fd < 0)
		init();
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (zt_config_init(&c) < 0 || zt_config_init(&defaults) < 0)
		abort();
	if (zt_config_load(&c, path, err, sizeof(err)) == 0 &&
	    zt_config_validate(&c, err, sizeof(err)) == 0) {
		/* a reload: what changed, then the reloadable keys copied over the running ones */
		(void)zt_config_diff(&defaults, &c, count_diff, &n);
		if (zt_config_copy_keys(&defaults, &c, true) < 0)
			abort();
	}
	zt_config_done(&defaults);
	zt_config_done(&c);
	return 0;
}
