/*
 * router_ack.c: the IngestAcks of a committed batch. Entries are grouped by (peer,
 * publisher_id), by sorting them once; each group gets one cumulative ack carrying the
 * publisher's mark as it stood when the batch was handed to the writer (acktrack.c), and
 * the rejections of the group's own messages. Called only after the commit returned, so an ack
 * means "durable". A lost ack (peer gone, queue full) costs nothing but a resend: the publisher
 * sends again and the duplicate earns a new ack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "daemon.h"
#include "zonetally.h"
#include "zonetally.pb-c.h"

typedef Zonetally__V1__IngestAck IngestAck;
typedef Zonetally__V1__Rejection Rejection;

/* One router entry of the batch, for sorting: entries of one (peer, publisher) are a run. */
struct slot {
	uint32_t peer;   /* slot + 1 */
	uint32_t i;      /* index in the batch: keeps the rejections in arrival order */
	const char *pub; /* "" when the message carried no usable publisher */
};

static const char *
pub_of(const struct zt_entry *e)
{
	return e->has_seq ? e->ev.publisher : "";
}

static int
slot_cmp(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	if (x->peer != y->peer)
		return x->peer < y->peer ? -1 : 1;
	int c = strcmp(x->pub, y->pub);
	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Lists the batch's router entries sorted by (peer, publisher, arrival): one sort, so that
 * the grouping costs O(n log n) however many peers and publishers the batch holds.
 * @return the number of entries listed, or -ENOMEM.
 */
static long
sort_entries(const struct batch *b, struct slot **ret)
{
	struct slot *s = malloc((b->n ? b->n : 1) * sizeof(*s));
	size_t n = 0;

	if (s == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++)
		if (b->tag[i].peer != 0)
			s[n++] = (struct slot){b->tag[i].peer, (uint32_t)i, pub_of(&b->e[i])};
	qsort(s, n, sizeof(*s), slot_cmp);
	*ret = s;
	return (long)n;
}

/* Sends [routing id][0x03 + ack] without blocking; false if the peer cannot take it. */
static bool
send_ack(struct router *rt, const struct rpeer *peer, const IngestAck *ack)
{
	size_t len = zonetally__v1__ingest_ack__get_packed_size(ack);
	uint8_t *buf = malloc(len + 1);
	bool ok = false;

	if (buf == NULL)
		return false;
	buf[0] = ROUTER_TYPE_ACK;
	(void)zonetally__v1__ingest_ack__pack(ack, buf + 1);
	if (zmq_send(rt->sock, peer->id, peer->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
		ok = zmq_send(rt->sock, buf, len + 1, ZMQ_DONTWAIT) >= 0;
	free(buf);
	return ok;
}

/*
 * Builds and sends the ack of one group: the run s[0..n) of one peer and publisher, whose
 * mark is the highest the batch gave its entries. Returns 0 or -ENOMEM.
 */
static int
ack_group(struct router *rt, const struct batch *b, const struct slot *s, size_t n,
    const struct zt_reject_ctx *rc)
{
	IngestAck ack = ZONETALLY__V1__INGEST_ACK__INIT;
	Rejection *rej = calloc(n, sizeof(*rej));
	Rejection **rp = calloc(n, sizeof(*rp));
	char(*det)[ZT_REJECT_DETAIL_LEN] = calloc(n, sizeof(*det));
	char pub[ZT_PUBLISHER_MAX + 1];
	size_t k = 0;

	if (rej == NULL || rp == NULL || det == NULL) {
		free(rej);
		free(rp);
		free(det);
		return -ENOMEM;
	}
	for (size_t j = 0; j < n; j++) {
		const struct zt_entry *e = &b->e[s[j].i];
		if (e->through_in > ack.through_sequence)
			ack.through_sequence = e->through_in;
		if (e->outcome != ZT_OUT_REJECTED)
			continue;
		zonetally__v1__rejection__init(&rej[k]);
		rej[k].has_sequence = rej[k].has_code = 1;
		rej[k].sequence = e->has_seq ? e->ev.sequence : 0;
		rej[k].code = e->reason;
		rej[k].reason = (char *)(uintptr_t)zt_reject_name(e->reason);
		if (rejects_detail(b, s[j].i, rc, det[k], sizeof(det[k])) > 0)
			rej[k].detail = det[k];
		rp[k] = &rej[k];
		k++;
	}
	(void)strncpy(pub, s[0].pub, sizeof(pub) - 1);
	pub[sizeof(pub) - 1] = '\0';
	ack.publisher_id = pub[0] != '\0' ? pub : NULL;
	ack.has_through_sequence = pub[0] != '\0';
	ack.n_rejected = k;
	ack.rejected = rp;
	if (send_ack(rt, &rt->peers[s[0].peer - 1], &ack))
		rt->acks_sent++;
	else
		rt->acks_lost++;
	free(rej);
	free(rp);
	free(det);
	return 0;
}

/*
 * Acknowledges the router entries of a batch that was committed, and releases their place
 * in their peers' windows.
 * @return 0 or -ENOMEM (the acks not sent are recovered by the publishers' resends).
 */
int
router_ack(struct router *rt, const struct batch *b, const struct zt_reject_ctx *rc)
{
	struct slot *s = NULL;
	int r = 0;

	if (rt->sock == NULL)
		return 0;
	long n = sort_entries(b, &s);
	if (n < 0)
		return (int)n;
	for (size_t i = 0, end; i < (size_t)n; i = end) {
		for (end = i + 1; end < (size_t)n && s[end].peer == s[i].peer &&
		     strcmp(s[end].pub, s[i].pub) == 0;
		     end++)
			;
		struct rpeer *peer = &rt->peers[s[i].peer - 1];
		uint32_t count = (uint32_t)(end - i);
		peer->inflight -= count <= peer->inflight ? count : peer->inflight;
		if (r == 0)
			r = ack_group(rt, b, s + i, end - i, rc);
	}
	free(s);
	return r;
}
