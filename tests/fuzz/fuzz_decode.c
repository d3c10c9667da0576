/*
 * fuzz_decode.c: fuzz target of the daemon's input path. One input is a topic and a payload,
 * as two frames would bring them: byte 0 gives the topic length (modulo 16), then the topic,
 * then the payload. The payload is decoded and validated as the daemon does, then applied
 * to a scratch store, so that whatever the validator lets through is also exercised in
 * zt_store_apply(). Nothing may crash, leak or trip a sanitizer, and the publisher and
 * sequence decode reports (decode_identity()) must be valid whenever it reports them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "fuzz.h"

static struct zt_store *store;
static struct decode_opts opts;

/* Closes the store at exit, so that LeakSanitizer sees a clean process. */
static void
close_store(void)
{
	store = zt_store_free(store);
}

/* Opens the scratch store, once per process. */
static void
init(void)
{
	const struct zt_zone *z;

	store = fuzz_scratch_store();
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
	/* whoever an event names is known whatever its verdict; a valid one always names one */
	if ((e.reason_in == ZT_REJECT_NONE && !e.has_seq) ||
	    (e.has_seq &&
	        (e.ev.sequence == 0 ||
	            !decode_publisher_ok((const uint8_t *)e.ev.publisher, strlen(e.ev.publisher)))))
		abort();
	e.raw = payload;
	e.raw_len = (uint32_t)(plen < ZT_REJECT_KEEP ? plen : ZT_REJECT_KEEP);
	if (zt_store_apply(store, &e, 1, &ao, NULL) < 0)
		abort();
	return 0;
}
