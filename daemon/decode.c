/*
 * decode.c: one payload -> protobuf-c unpack -> a validated struct zt_entry, with exactly one
 * rejection reason when something is wrong (the first failing check, in the order the
 * checks run below: size, protobuf framing, string bytes, shape, content). The protobuf-c
 * message never leaves this file; it lives in an arena that is released on every path.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "zonetally.pb-c.h"

typedef Zonetally__V1__TradeEvent TradeEvent;

/* 2015-01-01T00:00 CST: no pilot zone existed before (Hangzhou, the first, opened in March
 * 2015), so an earlier time is a publisher's clock or encoding error, not a late event. */
#define TIME_MIN_MS (1420070400000LL - ZT_CST_OFFSET_MS)
/* The last time whose CST date the store's calendar helpers handle (year 9999). Later times
 * are rejected here as future_time; the writer compares the rest with its clock. */
#define TIME_MAX_MS (253402300799999LL - ZT_CST_OFFSET_MS)

/* Bytes of the stack arena of one unpack: an event of the recommended form needs under a
 * fifth of it (the message struct, its strings and ids). */
#define ARENA_BYTES 2048

/*
 * The allocator protobuf-c unpacks one message with. It allocates the message, every string
 * and bytes field and, for messages with many fields, scratch slabs; taking them from a
 * bump arena on the caller's stack spares a malloc/free pair per field at a million
 * messages a second. What does not fit (a large or hostile message) spills to malloc,
 * chained so that arena_done() frees it; free is then a no-op and the unpacked message is
 * simply forgotten with the arena.
 */
struct spill {
	struct spill *next;
	max_align_t data[];
};

struct arena {
	unsigned char *buf;
	size_t cap, used;
	struct spill *spill;
};

static void *
arena_alloc(void *cls, size_t size)
{
	struct arena *a = cls;
	const size_t align = _Alignof(max_align_t);
	size_t need = (size + align - 1) & ~(align - 1);

	if (need >= size && need <= a->cap - a->used) {
		void *p = a->buf + a->used;
		a->used += need;
		return p;
	}
	struct spill *sp = size <= SIZE_MAX - sizeof(*sp) ? malloc(sizeof(*sp) + size) : NULL;
	if (sp == NULL)
		return NULL; /* protobuf-c fails the unpack: undecodable */
	sp->next = a->spill;
	a->spill = sp;
	return sp->data;
}

static void
arena_free(void *cls, void *p)
{
	(void)cls, (void)p;
}

static void
arena_done(struct arena *a)
{
	while (a->spill != NULL) {
		struct spill *next = a->spill->next;
		free(a->spill);
		a->spill = next;
	}
}

static int
zone_cmp(const void *key, const void *elem)
{
	uint32_t code = *(const uint32_t *)key;
	const struct zt_zone *z = elem;
	return code < z->code ? -1 : code > z->code;
}

/* Returns the registry zone with that code, or NULL. */
const struct zt_zone *
decode_zone(const struct decode_opts *o, uint32_t code)
{
	if (o->zones == NULL || o->n_zones == 0)
		return NULL;
	return bsearch(&code, o->zones, o->n_zones, sizeof(o->zones[0]), zone_cmp);
}

static bool
publisher_ok(const char *p)
{
	return decode_publisher_ok((const uint8_t *)p, strlen(p));
}

static bool
hs_code_ok(const char *h)
{
	size_t n = strlen(h);

	if (n < ZT_HS_CODE_MIN || n > ZT_HS_CODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (h[i] < '0' || h[i] > '9')
			return false;
	return true;
}

/* Whether topic is "ev." and the zone code as printf's %06u writes it (no snprintf: this runs
 * for every message). */
static bool
topic_ok(const TradeEvent *m, const void *topic, size_t topic_len)
{
	char want[3 + 10];
	size_t digits = 6;
	uint32_t z = m->zone_code;

	for (uint32_t t = z / 1000000; t > 0; t /= 10)
		digits++;
	if (topic_len != 3 + digits)
		return false;
	memcpy(want, "ev.", 3);
	for (size_t i = 3 + digits; i > 3; z /= 10)
		want[--i] = (char)('0' + z % 10);
	return memcmp(want, topic, topic_len) == 0;
}

/* The checks that need nothing but the message itself, up to the sequence number. */
static int
check_shape(const TradeEvent *m, const void *topic, size_t topic_len)
{
	/* the acknowledged path has no topic frame (topic NULL): nothing to match */
	if (topic != NULL && m->has_zone_code && !topic_ok(m, topic, topic_len))
		return ZT_REJECT_TOPIC_MISMATCH;
	if (!m->has_event_id || m->publisher_id == NULL || !m->has_sequence || !m->has_zone_code ||
	    !m->has_direction || !m->has_mode || !m->has_value_fen || !m->has_item_count ||
	    !m->has_declared_at_ms)
		return ZT_REJECT_MISSING_FIELD;
	if (m->event_id.len != ZT_EVENT_ID_LEN ||
	    (m->has_ref_event_id && m->ref_event_id.len != ZT_EVENT_ID_LEN))
		return ZT_REJECT_BAD_EVENT_ID;
	if (!publisher_ok(m->publisher_id))
		return ZT_REJECT_BAD_PUBLISHER;
	if (m->sequence == 0)
		return ZT_REJECT_BAD_SEQUENCE;
	return ZT_REJECT_NONE;
}

/* The checks against the registry and the configured limits. */
static int
check_content(const struct decode_opts *o, const TradeEvent *m)
{
	const struct zt_zone *z = decode_zone(o, m->zone_code);
	int dir = (int)m->direction, mode = (int)m->mode;
	int kind = m->has_kind ? (int)m->kind : ZT_KIND_DECLARATION;

	if (z == NULL)
		return ZT_REJECT_UNKNOWN_ZONE;
	if (m->declared_at_ms < TIME_MIN_MS)
		return ZT_REJECT_TOO_EARLY;
	if (m->declared_at_ms > TIME_MAX_MS)
		return ZT_REJECT_FUTURE_TIME;
	if (!zt_zone_valid_in(z, zt_cst_year(m->declared_at_ms)))
		return ZT_REJECT_ZONE_NOT_VALID;
	if (dir != ZT_DIR_IMPORT && dir != ZT_DIR_EXPORT)
		return ZT_REJECT_BAD_DIRECTION;
	if (mode < ZT_MODE_9610 || mode > ZT_MODE_1239)
		return ZT_REJECT_BAD_MODE;
	if (!zt_mode_allows(mode, dir))
		return ZT_REJECT_MODE_DIRECTION;
	if (m->hs_code != NULL && !hs_code_ok(m->hs_code))
		return ZT_REJECT_BAD_HS_CODE;
	if (m->value_fen < 0)
		return ZT_REJECT_NEGATIVE_VALUE;
	if (m->value_fen > o->max_value_fen)
		return ZT_REJECT_VALUE_TOO_LARGE;
	if (kind < 0 || kind >= ZT_KIND__COUNT ||
	    (kind == ZT_KIND_DECLARATION) == (bool)m->has_ref_event_id)
		return ZT_REJECT_BAD_KIND;
	return ZT_REJECT_NONE;
}

/* Copies a message that passed every check into the fixed-size event. */
static void
copy_event(const TradeEvent *m, struct zt_event *ev)
{
	memcpy(ev->id, m->event_id.data, ZT_EVENT_ID_LEN);
	if (m->has_ref_event_id)
		memcpy(ev->ref_id, m->ref_event_id.data, ZT_EVENT_ID_LEN);
	if (m->hs_code != NULL)
		memcpy(ev->hs_code, m->hs_code, strlen(m->hs_code) + 1);
	ev->direction = (uint8_t)m->direction;
	ev->mode = (uint8_t)m->mode;
	ev->kind = (uint8_t)(m->has_kind ? m->kind : ZT_KIND_DECLARATION);
	ev->zone = m->zone_code;
	ev->items = m->item_count;
	ev->value_fen = m->value_fen;
	ev->declared_at_ms = m->declared_at_ms;
}

/*
 * Decodes and validates one message into e (ev, reason_in, has_seq; raw is the caller's).
 * @param[in] topic, topic_len the first frame
 * @param[in] payload, len the second frame, borrowed for the call
 * @param[out] ret_unknown set to the number of unknown protobuf fields (may be NULL)
 * @return the reason, ZT_REJECT_NONE when the event may be applied.
 * @note publisher and sequence are read first (decode_identity()) and copied (has_seq)
 *     whenever they are present and valid, whatever else fails, even the size or the
 *     framing: the store's gap tracking and the acknowledged mark see every message that
 *     names its sender.
 */
int
decode_message(const struct decode_opts *o, const void *topic, size_t topic_len,
    const void *payload, size_t len, struct zt_entry *e, unsigned *ret_unknown)
{
	memset(&e->ev, 0, sizeof(e->ev));
	e->has_seq = false;
	e->reason_in = ZT_REJECT_NONE;
	if (ret_unknown != NULL)
		*ret_unknown = 0;
	e->has_seq = decode_identity(payload, len, e->ev.publisher, &e->ev.sequence);
	if (len > o->max_message_bytes) {
		e->reason_in = ZT_REJECT_OVERSIZE;
		return e->reason_in;
	}
	_Alignas(max_align_t) unsigned char buf[ARENA_BYTES];
	struct arena arena = {.buf = buf, .cap = sizeof(buf)};
	ProtobufCAllocator alloc = {arena_alloc, arena_free, &arena};
	TradeEvent *m = zonetally__v1__trade_event__unpack(&alloc, len, payload);
	if (m == NULL) {
		arena_done(&arena);
		e->reason_in = ZT_REJECT_UNDECODABLE;
		return e->reason_in;
	}
	if (ret_unknown != NULL)
		*ret_unknown = m->base.n_unknown_fields;
	/* Before anything reads a string: a NUL inside one would make strlen() lie. */
	bool text_ok = decode_strings_ok(m->base.descriptor, payload, len);
	int reason = text_ok ? check_shape(m, topic, topic_len) : ZT_REJECT_BAD_UTF8;
	if (reason == ZT_REJECT_NONE)
		reason = check_content(o, m);
	if (reason == ZT_REJECT_NONE)
		copy_event(m, &e->ev);
	arena_done(&arena);
	e->reason_in = (uint16_t)reason;
	return reason;
}
