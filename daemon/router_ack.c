/*
 * router_ack.c: the IngestAcks of a committed batch. Entries are grouped by (peer,
 * publisher_id); each group gets one cumulative ack carrying the publisher's mark as it
 * stood when the batch was handed to the writer (acktrack.c), and the rejections of the
 * group's own messages. Called only after the commit returned, so an ack means "durable".
 * A lost ack (peer gone, queue full) costs nothing but a resend: the publisher sends again
 * and the duplicate earns a new ack.
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

/* The entries of one peer and publisher in the batch. */
struct group {
	uint32_t peer;   /* slot + 1 */
	const char *pub; /* "" when the messages carried no usable publisher */
	uint64_t through;
	uint32_t count;
	uint32_t nrej;
};

static const char *
pub_of(const struct zt_entry *e)
{
	return e->has_seq ? e->ev.publisher : "";
}

/* Groups the batch's router entries. Returns the number of groups or -ENOMEM. */
static long
group_entries(const struct batch *b, struct group **ret)
{
	struct group *g = NULL;
	size_t n = 0, cap = 0, last = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct zt_entry *e = &b->e[i];
		if (b->peer[i] == 0)
			continue;
		const char *pub = pub_of(e);
		if (!(last < n && g[last].peer == b->peer[i] && strcmp(g[last].pub, pub) == 0)) {
			for (last = 0; last < n; last++)
				if (g[last].peer == b->peer[i] && strcmp(g[last].pub, pub) == 0)
					break;
		}
		if (last == n) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				struct group *ng = realloc(g, cap * sizeof(*g));
				if (ng == NULL) {
					free(g);
					return -ENOMEM;
				}
				g = ng;
			}
			g[n++] = (struct group){.peer = b->peer[i], .pub = pub};
		}
		struct group *cur = &g[last];
		cur->count++;
		cur->nrej += e->outcome == ZT_OUT_REJECTED;
		if (e->through_in > cur->through)
			cur->through = e->through_in;
	}
	*ret = g;
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

/* Builds and sends one group's ack. Returns 0 or -ENOMEM. */
static int
ack_group(
    struct router *rt, const struct batch *b, const struct group *g, const struct zt_reject_ctx *rc)
{
	IngestAck ack = ZONETALLY__V1__INGEST_ACK__INIT;
	Rejection *rej = calloc(g->nrej ? g->nrej : 1, sizeof(*rej));
	Rejection **rp = calloc(g->nrej ? g->nrej : 1, sizeof(*rp));
	char(*det)[ZT_REJECT_DETAIL_LEN] = calloc(g->nrej ? g->nrej : 1, sizeof(*det));
	char pub[ZT_PUBLISHER_MAX + 1];
	size_t k = 0;

	if (rej == NULL || rp == NULL || det == NULL) {
		free(rej);
		free(rp);
		free(det);
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->n && k < g->nrej; i++) {
		const struct zt_entry *e = &b->e[i];
		if (b->peer[i] != g->peer || e->outcome != ZT_OUT_REJECTED ||
		    strcmp(pub_of(e), g->pub) != 0)
			continue;
		zonetally__v1__rejection__init(&rej[k]);
		rej[k].has_sequence = rej[k].has_code = 1;
		rej[k].sequence = e->has_seq ? e->ev.sequence : 0;
		rej[k].code = e->reason;
		rej[k].reason = (char *)(uintptr_t)zt_reject_name(e->reason);
		if (rejects_detail(b, i, rc, det[k], sizeof(det[k])) > 0)
			rej[k].detail = det[k];
		rp[k] = &rej[k];
		k++;
	}
	(void)strncpy(pub, g->pub, sizeof(pub) - 1);
	pub[sizeof(pub) - 1] = '\0';
	ack.publisher_id = pub[0] != '\0' ? pub : NULL;
	ack.has_through_sequence = pub[0] != '\0';
	ack.through_sequence = g->through;
	ack.n_rejected = k;
	ack.rejected = rp;
	if (send_ack(rt, &rt->peers[g->peer - 1], &ack))
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
	struct group *g = NULL;
	int r = 0;

	if (rt->sock == NULL)
		return 0;
	long n = group_entries(b, &g);
	if (n < 0)
		return (int)n;
	for (long i = 0; i < n; i++) {
		struct rpeer *peer = &rt->peers[g[i].peer - 1];
		peer->inflight -= g[i].count <= peer->inflight ? g[i].count : peer->inflight;
		if (r == 0)
			r = ack_group(rt, b, &g[i], rc);
	}
	free(g);
	return r;
}
