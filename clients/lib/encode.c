/*
 * encode.c: a wire event to the two ZeroMQ frames the daemon reads: the topic "ev.%06u" and a
 * TradeEvent packed by the generated protobuf-c code. Also fills the fields an NDJSON line
 * may leave out (event_id, publisher_id, sequence).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "zonetally.h"
#include "zonetally.pb-c.h"

void
zt_wire_complete(
    struct zt_wire *w, const char *publisher, uint64_t *next_seq, const uint8_t rnd[10])
{
	if (!(w->has & ZT_W_EVENT_ID)) {
		int64_t t = (w->has & ZT_W_TIME) ? w->declared_at_ms : 0;
		if (w->has & ZT_W_LIST_NO)
			zt_eventid_from_list_no(t, w->list_no, strlen(w->list_no), w->id);
		else
			zt_eventid_uuidv7(t, rnd, w->id);
		w->id_len = ZT_EVENT_ID_LEN;
		w->has |= ZT_W_EVENT_ID;
	}
	if (!(w->has & ZT_W_REF_ID) && (w->has & ZT_W_REF_LIST_NO)) {
		/* a reversal carries its original's declared_at_ms (the daemon checks it) */
		zt_eventid_from_list_no((w->has & ZT_W_TIME) ? w->declared_at_ms : 0,
		    w->ref_list_no, strlen(w->ref_list_no), w->ref_id);
		w->ref_len = ZT_EVENT_ID_LEN;
		w->has |= ZT_W_REF_ID;
	}
	if (!(w->has & ZT_W_PUBLISHER)) {
		(void)snprintf(w->publisher, sizeof(w->publisher), "%s", publisher);
		w->has |= ZT_W_PUBLISHER;
	}
	if (!(w->has & ZT_W_SEQUENCE)) {
		w->sequence = (*next_seq)++;
		w->has |= ZT_W_SEQUENCE;
	}
}

void
zt_wire_topic(const struct zt_wire *w, char out[ZT_TOPIC_LEN + 1])
{
	uint32_t z = (w->has & ZT_W_ZONE) ? w->zone : 0;

	(void)snprintf(out, ZT_TOPIC_LEN + 1, "ev.%06u", z);
}

/* The protobuf-c message of w. Its pointers borrow w's buffers. */
static void
to_message(const struct zt_wire *w, Zonetally__V1__TradeEvent *m)
{
	*m = (Zonetally__V1__TradeEvent)ZONETALLY__V1__TRADE_EVENT__INIT;
	m->has_event_id = (w->has & ZT_W_EVENT_ID) != 0;
	m->event_id = (ProtobufCBinaryData){.len = w->id_len, .data = (uint8_t *)(uintptr_t)w->id};
	m->publisher_id = (w->has & ZT_W_PUBLISHER) ? (char *)(uintptr_t)w->publisher : NULL;
	m->has_sequence = (w->has & ZT_W_SEQUENCE) != 0;
	m->sequence = w->sequence;
	m->has_zone_code = (w->has & ZT_W_ZONE) != 0;
	m->zone_code = w->zone;
	m->has_direction = (w->has & ZT_W_DIRECTION) != 0;
	m->direction = (Zonetally__V1__Direction)w->direction;
	m->has_mode = (w->has & ZT_W_MODE) != 0;
	m->mode = (Zonetally__V1__TradeMode)w->mode;
	m->has_value_fen = (w->has & ZT_W_VALUE) != 0;
	m->value_fen = w->value_fen;
	m->has_item_count = (w->has & ZT_W_ITEMS) != 0;
	m->item_count = w->items;
	m->has_declared_at_ms = (w->has & ZT_W_TIME) != 0;
	m->declared_at_ms = w->declared_at_ms;
	m->hs_code = (w->has & ZT_W_HS_CODE) ? (char *)(uintptr_t)w->hs_code : NULL;
	m->has_kind = (w->has & ZT_W_KIND) != 0;
	m->kind = (Zonetally__V1__EventKind)w->kind;
	m->has_ref_event_id = (w->has & ZT_W_REF_ID) != 0;
	m->ref_event_id =
	    (ProtobufCBinaryData){.len = w->ref_len, .data = (uint8_t *)(uintptr_t)w->ref_id};
}

size_t
zt_wire_pack(const struct zt_wire *w, uint8_t *buf)
{
	Zonetally__V1__TradeEvent m;

	to_message(w, &m);
	/* Bounded by construction: 2 x 64-byte ids, 2 x 255-byte strings, 10 scalars. */
	assert(zonetally__v1__trade_event__get_packed_size(&m) <= ZT_WIRE_MSG_MAX);
	return zonetally__v1__trade_event__pack(&m, buf);
}
