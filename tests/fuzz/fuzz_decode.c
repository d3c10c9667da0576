/*
 * fuzz_decode.c: fuzz target of the daemon's input path. One input is a topic and a payload,
 * as two frames would bring them: byte 0 gives the topic length (modulo 16), then the topic,
 * then the payload. The payload is decoded and validated as the daemon does, then applied
 * to a scratch store, so that whatever the validator lets through is also exercised in
 * zt_store_apply(). Nothing may crash, leak or trip a sanitizer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "fuzz.h"

static char dir[] = "/tmp/zt-fuzz-decode-XXXXXX";
static char store_dir[64];
static struct zt_store *store;
static struct decode_opts opts;

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

/* Closes the store at exit, so that LeakSanitizer sees a clean process. */
static void
close_store(void)
{
	store = zt_store_free(store);
}

/*
 * Opens the scratch store with the real registry, once per process. ZT_STORE_NOSYNC: every
 * input is still one real write transaction, committed, but without an fsync, which would
 * otherwise bound the target to a few hundred inputs a second.
 */
static void
init(void)
{
	struct zt_zone *zones = NULL;
	const struct zt_zone *z;

	if (mkdtemp(dir) == NULL)
		abort();
	(void)snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
	if (mkdir(store_dir, 0700) < 0 ||
	    zt_store_open(store_dir, ZT_STORE_NOSYNC, 64u << 20, &store) < 0)
		abort();
	int n = zt_registry_load_file(ZT_ZONES_CSV, &zones, NULL);
	if (n <= 0 || zt_store_put_zones(store, zones, (size_t)n) < 0)
		abort();
	free(zones);
	unlink_scratch();
	(void)atexit(close_store);
	opts.n_zones = zt_store_zones(store, &z);
	opts.zones = z;
	opts.max_message_bytes = 4096;
	opts.max_value_fen = INT64_MAX; /* let values reach the checked arithmetic */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_entry e;
	struct zt_apply_opts ao = {
	    .now_ms = now_wall_ms(),
	    .future_tolerance_ms = 300000,
	    .dedup_window_days = 35,
	    .rejects_max = 100,
	    .prune_max = 100,
	};

	if (store == NULL)
		init();
	if (size == 0)
		return 0;
	size_t tlen = data[0] % 16u;
	if (tlen > size - 1)
		tlen = size - 1;
	const uint8_t *payload = data + 1 + tlen;
	size_t plen = size - 1 - tlen;

	memset(&e, 0, sizeof(e));
	(void)decode_message(&opts, data + 1, tlen, payload, plen, &e, NULL);
	e.raw = payload;
	e.raw_len = (uint32_t)(plen < ZT_REJECT_KEEP ? plen : ZT_REJECT_KEEP);
	if (zt_store_apply(store, &e, 1, &ao, NULL) < 0)
		abort();
	return 0;
}
