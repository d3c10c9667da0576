/*
 * raw_unpack.c: the decoding ceiling: protobuf-c unpacking TradeEvents on one core, with
 * nothing else (no validation, no copy into the daemon's event). Two figures: the default
 * allocator (a malloc per message and per string), and a bump arena reset after each
 * message, the best an allocator can do.
 *
 * usage: raw_unpack MESSAGE_COUNT
 * The messages are built beforehand with the generated code only (the wire format, not the
 * project's logic): 65,536 distinct TradeEvents of the generator's shape (~70 bytes), unpacked
 * round-robin. Timing covers only the unpack + free loop.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchclock.h"

#include "zonetally.pb-c.h"

#define N_DISTINCT 65536u
#define MSG_MAX    256u
#define ARENA_LEN  4096u

typedef Zonetally__V1__TradeEvent TradeEvent;

struct arena {
	uint8_t buf[ARENA_LEN];
	size_t used;
};

/* Bump allocation, 16-byte aligned; NULL when the message needs more than the arena. */
static void *
arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	size_t at = (a->used + 15u) & ~(size_t)15u;

	if (at + size > sizeof(a->buf))
		return NULL;
	a->used = at + size;
	return a->buf + at;
}

/* Nothing to free one by one: the arena is reset after each message. */
static void
arena_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

/* Fills msgs with N_DISTINCT packed events; lens gets their lengths. */
static void
build(uint8_t (*msgs)[MSG_MAX], size_t *lens)
{
	static const uint32_t zones[] = {440300, 330100, 310100, 120100, 510100};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t id[16];
	char hs[] = "6109100000", pub[] = "zonetally-pub";

	for (uint32_t i = 0; i < N_DISTINCT; i++) {
		TradeEvent m = ZONETALLY__V1__TRADE_EVENT__INIT;
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		memcpy(id, &x, 8);
		memcpy(id + 8, &i, 4);
		memset(id + 12, 0x11, 4);
		m.has_event_id = 1;
		m.event_id = (ProtobufCBinaryData){.len = sizeof(id), .data = id};
		m.publisher_id = pub;
		m.has_sequence = m.has_zone_code = m.has_direction = m.has_mode = 1;
		m.sequence = i + 1;
		m.zone_code = zones[x >> 61 & 3];
		m.direction = (Zonetally__V1__Direction)(1 + (x >> 40 & 1));
		m.mode = ZONETALLY__V1__TRADE_MODE__MODE_9610;
		m.has_value_fen = m.has_item_count = m.has_declared_at_ms = 1;
		m.value_fen = (int64_t)(x >> 44);
		m.item_count = 1 + (uint32_t)(x >> 58);
		m.declared_at_ms = 1668096000000 + i * 40;
		m.hs_code = hs;
		lens[i] = zonetally__v1__trade_event__pack(&m, msgs[i]);
	}
}

/* Unpacks count messages round-robin; returns messages/s, or -1 if one failed. */
static double
run(uint8_t (*msgs)[MSG_MAX], const size_t *lens, unsigned long count, struct arena *a)
{
	ProtobufCAllocator al = {.alloc = arena_alloc, .free = arena_free, .allocator_data = a};
	uint64_t sink = 0;
	double t0 = bench_now_s();

	for (unsigned long i = 0; i < count; i++) {
		uint32_t k = (uint32_t)(i % N_DISTINCT);
		TradeEvent *m =
		    zonetally__v1__trade_event__unpack(a ? &al : NULL, lens[k], msgs[k]);
		if (m == NULL)
			return -1;
		sink += m->sequence; /* the result is used, so the loop is not optimized away */
		if (a != NULL)
			a->used = 0;
		else
			zonetally__v1__trade_event__free_unpacked(m, NULL);
	}
	double t = bench_now_s() - t0;
	return sink > 0 ? (double)count / t : -1;
}

int
main(int argc, char **argv)
{
	static struct arena a;
	uint8_t(*msgs)[MSG_MAX] = calloc(N_DISTINCT, MSG_MAX);
	size_t *lens = calloc(N_DISTINCT, sizeof(*lens));
	char *end;
	unsigned long count = argc == 2 ? strtoul(argv[1], &end, 10) : 0;

	if (argc != 2 || count == 0 || *end != '\0') {
		fprintf(stderr, "usage: raw_unpack MESSAGE_COUNT\n");
		return 2;
	}
	if (msgs == NULL || lens == NULL) {
		fprintf(stderr, "raw_unpack: %s\n", strerror(ENOMEM));
		return 1;
	}
	build(msgs, lens);
	double heap = run(msgs, lens, count, NULL), arena = run(msgs, lens, count, &a);
	free(msgs);
	free(lens);
	if (heap < 0 || arena < 0) {
		fprintf(stderr, "raw_unpack: a message did not unpack\n");
		return 1;
	}
	printf("message count: %lu\n", count);
	printf("unpack, malloc: %.0f [msg/s]\n", heap);
	printf("unpack, arena: %.0f [msg/s]\n", arena);
	return 0;
}
