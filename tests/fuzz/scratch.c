/*
 * scratch.c: the throwaway store of the fuzz targets that apply or query, opened once per
 * process with the real zone registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "store.h"

static char dir[] = "/tmp/zt-fuzz-store-XXXXXX";
static char store_dir[64];

/* Removes the scratch store's files and directory. LMDB keeps working on the open
 * descriptors and mapping, so this runs right after opening: nothing is left in /tmp even
 * when libFuzzer stops the process with a crash or a timeout. */
static void
unlink_scratch(void)
{
	char p[96];

	(void)snprintf(p, sizeof(p), "%s/data.mdb", store_dir);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s/lock.mdb", store_dir);
	(void)unlink(p);
	(void)rmdir(store_dir);
	(void)rmdir(dir);
}

/*
 * ZT_STORE_NOSYNC: every input is still one real write transaction, committed, but without
 * an fsync, which would otherwise bound a target to a few hundred inputs a second. The files
 * are unlinked before this returns.
 */
struct zt_store *
fuzz_scratch_store(void)
{
	struct zt_zone *zones = NULL;
	struct zt_store *s = NULL;

	if (mkdtemp(dir) == NULL)
		abort();
	(void)snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
	if (mkdir(store_dir, 0700) < 0 ||
	    zt_store_open(store_dir, ZT_STORE_NOSYNC, 64u << 20, &s) < 0)
		abort();
	int n = zt_registry_load_file(ZT_ZONES_CSV, &zones, NULL);
	if (n <= 0 || zt_store_put_zones(s, zones, (size_t)n) < 0)
		abort();
	free(zones);
	unlink_scratch();
	return s;
}
