/*
 * preencode.c: `zonetally-pub --generate N --preencode`: every event is generated and encoded
 * into one buffer before the clock starts, then sent from it without a copy per message.
 * Generating and encoding cost about as much as sending; done ahead, a benchmark measures
 * the daemon and not the load generator. Memory: about 100 bytes per event.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pub.h"

#define HDR_LEN 11 /* u64 sequence, u16 event length, u8 topic length */

/* Makes room for one more record of at most the largest size. */
static int
reserve(struct pub_pre *pe)
{
	size_t need = pe->len + HDR_LEN + ZT_TOPIC_LEN + ZT_WIRE_MSG_MAX;

	if (need <= pe->cap)
		return 0;
	size_t cap = pe->cap == 0 ? (size_t)1 << 20 : pe->cap * 2;
	uint8_t *nb = realloc(pe->buf, cap > need ? cap : need);
	if (nb == NULL)
		return -ENOMEM;
	pe->buf = nb;
	pe->cap = cap > need ? cap : need;
	return 0;
}

/* Appends one record: the header, the topic, then the event packed in place. */
static void
append(struct pub_pre *pe, const struct zt_wire *w)
{
	char topic[ZT_TOPIC_LEN + 1];
	uint8_t *rec = pe->buf + pe->len;

	zt_wire_topic(w, topic);
	uint8_t tlen = (uint8_t)strlen(topic);
	memcpy(rec + HDR_LEN, topic, tlen);
	uint16_t len = (uint16_t)zt_wire_pack(w, rec + HDR_LEN + tlen);
	memcpy(rec, &w->sequence, sizeof(w->sequence));
	memcpy(rec + 8, &len, sizeof(len));
	rec[10] = tlen;
	pe->len += (size_t)HDR_LEN + tlen + len;
	pe->n++;
}

/*
 * Encodes everything g still has to give.
 * @return 0 or -ENOMEM (pe holds what was encoded; pre_free() it either way).
 */
int
pre_encode(struct pub_pre *pe, struct zt_gen *g)
{
	struct zt_wire w;

	for (;;) {
		int r = reserve(pe);
		if (r < 0)
			return r;
		if (zt_gen_next(g, &w, NULL) != 1)
			return 0;
		append(pe, &w);
	}
}

/*
 * Sends every record, pointing the payload frames into pe->buf, which must therefore live
 * until pub_close() returned. @return 0 or what pub_send_msg() returned.
 */
int
pre_send(struct pub *p, const struct pub_pre *pe)
{
	for (size_t off = 0; off < pe->len;) {
		const uint8_t *rec = pe->buf + off;
		struct pub_msg m = {.topic = (const char *)rec + HDR_LEN, .topic_len = rec[10]};
		uint16_t len;

		memcpy(&m.sequence, rec, sizeof(m.sequence));
		memcpy(&len, rec + 8, sizeof(len));
		m.data = rec + HDR_LEN + m.topic_len;
		m.len = len;
		int r = pub_send_msg(p, &m, true);
		if (r < 0)
			return r;
		off += (size_t)HDR_LEN + m.topic_len + len;
	}
	return 0;
}

void
pre_free(struct pub_pre *pe)
{
	free(pe->buf);
	*pe = (struct pub_pre){0};
}
