/*
 * fuzz_query.c: fuzz target of the query socket's request handling. One input is one request
 * body, handed to query_handle() as serve_one() would after reading the envelope, over a
 * scratch store that holds the real registry and a few totals, so that get, top, provinces
 * and snapshot walk real blocks. Whatever the input, a reply must come back and nothing may
 * crash, leak or trip a sanitizer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "fuzz.h"
#include "zonetally.pb-c.h"

#define DAY_2022_MS 1669824000000LL /* 2022-12-01T00:00:00+08:00, plus an hour below */

static struct zt_store *owner;
static struct feed feed;
static struct query q;

/* Closes both handles at exit, so that LeakSanitizer sees a clean process. */
static void
close_store(void)
{
	q.store = zt_store_free(q.store);
	owner = zt_store_free(owner);
}

/* Decodes and applies one valid declaration, so that queries find totals to read; aborts
 * unless it was accepted. */
static void
put_event(const struct decode_opts *o, uint8_t n, uint32_t zone, int64_t value)
{
	Zonetally__V1__TradeEvent ev = ZONETALLY__V1__TRADE_EVENT__INIT;
	uint8_t id[16] = {[15] = n}, buf[256];
	char topic[16];
	struct zt_entry e = {0};
	struct zt_apply_result res = {0};
	struct zt_apply_opts ao = {.now_ms = now_wall_ms(),
	    .future_tolerance_ms = 300000,
	    .dedup_window_days = 100000,
	    .rejects_max = 100,
	    .prune_max = 100};

	ev.event_id = (ProtobufCBinaryData){.len = sizeof(id), .data = id};
	ev.publisher_id = (char *)(uintptr_t) "fuzz";
	ev.has_event_id = ev.has_sequence = ev.has_zone_code = ev.has_direction = ev.has_mode = 1;
	ev.has_value_fen = ev.has_item_count = ev.has_declared_at_ms = 1;
	ev.sequence = n;
	ev.zone_code = zone;
	ev.direction = ZONETALLY__V1__DIRECTION__EXPORT;
	ev.mode = ZONETALLY__V1__TRADE_MODE__MODE_9610;
	ev.value_fen = value;
	ev.item_count = 1;
	ev.declared_at_ms = DAY_2022_MS + 3600000;
	size_t len = zonetally__v1__trade_event__pack(&ev, buf);
	int tlen = snprintf(topic, sizeof(topic), "ev.%06u", zone);
	if (decode_message(o, topic, (size_t)tlen, buf, len, &e, NULL) < 0 ||
	    zt_store_apply(owner, &e, 1, &ao, &res) < 0 || res.accepted != 1)
		abort(); /* a rejected seed would leave the queries nothing to read */
}

/* Opens the scratch store with the registry and three totals, once per process. */
static void
init(void)
{
	struct decode_opts o = {.max_message_bytes = 4096, .max_value_fen = INT64_MAX};
	const struct zt_zone *z;

	owner = fuzz_scratch_store();
	o.n_zones = zt_store_zones(owner, &z);
	o.zones = z;
	put_event(&o, 1, 330100, 100);
	put_event(&o, 2, 440300, 2500);
	put_event(&o, 3, 330100, INT64_MAX / 4);
	if (zt_store_open_shared(owner, &q.store) < 0)
		abort();
	(void)atexit(close_store);
	feed.epoch = 42;
	q.feed = &feed;
	q.max_request = 4096;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = 0;

	if (owner == NULL)
		init();
	/* size 0 with a NULL body is the "no single body frame" envelope */
	uint8_t *out = query_handle(&q, size ? data : NULL, size, &len);
	if (out == NULL)
		abort();
	free(out);
	return 0;
}
