/*
 * router.c: the acknowledged ingest path. A ROUTER socket that publishers' DEALER sockets
 * connect to; each message is [routing id][type byte + protobuf]: one TradeEvent (0x01) or
 * an EventBatch (0x02). Every event becomes one batch entry tagged with its peer, so that
 * router_ack.c can answer after the commit. A peer may have at most router_window events
 * unacknowledged in the daemon; beyond that its events are refused before they count (it
 * resends them after its timeout), which bounds memory per peer without dropping anything
 * that was accepted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "daemon.h"

#define PEERS_MAX     4096
#define ROUTER_LINGER 100 /* ms: acks still queued at exit are worth little, never block */

/* Sets the options: a peer that vanished makes a send fail (MANDATORY) instead of
 * disappearing silently, a finite linger so that shutdown never hangs on a dead peer, and
 * ZMQ_MAXMSGSIZE floored as daemon.h explains. */
static int
router_options(void *s, const struct zt_config *c)
{
	int one = 1, linger = ROUTER_LINGER, hwm = (int)c->rcvhwm;
	int64_t maxsize = (int64_t)c->max_message_bytes * 1024 + 64;

	/* A small max_message_bytes must not turn a 1 MiB frame into a silent disconnect. */
	if (maxsize < ZT_SOCKET_MSG_FLOOR)
		maxsize = ZT_SOCKET_MSG_FLOOR;
	if (zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxsize, sizeof(maxsize)) < 0 ||
	    curve_server(s, ZT_ZAP_PUBLISHERS) < 0)
		return -errno;
	return 0;
}

/*
 * Creates and binds the ROUTER socket when router_bind is set; records the resolved
 * endpoint in rt->bound.
 * @param[out] err on failure, which endpoint and why
 * @return 0 or a negative errno.
 */
int
router_open(struct router *rt, void *zctx, const struct zt_config *c, char *err, size_t errlen)
{
	size_t len = sizeof(rt->bound);

	memset(rt, 0, sizeof(*rt));
	rt->window = c->router_window;
	if (c->router_bind == NULL || c->router_bind[0] == '\0')
		return 0;
	rt->peers = calloc(PEERS_MAX, sizeof(*rt->peers));
	rt->pending = malloc(sizeof(zmq_msg_t));
	rt->sock = zmq_socket(zctx, ZMQ_ROUTER);
	if (rt->peers == NULL || rt->pending == NULL) {
		(void)snprintf(err, errlen, "ROUTER socket: out of memory");
		return -ENOMEM;
	}
	if (rt->sock == NULL || router_options(rt->sock, c) < 0 ||
	    zmq_bind(rt->sock, c->router_bind) < 0 ||
	    zmq_getsockopt(rt->sock, ZMQ_LAST_ENDPOINT, rt->bound, &len) < 0) {
		int r = -errno;
		(void)snprintf(err, errlen, "cannot bind the ROUTER socket to '%s': %s",
		    c->router_bind, zmq_strerror(errno));
		return r;
	}
	return 0;
}

/* Closes the socket and frees the peer table. Idempotent. */
void
router_close(struct router *rt)
{
	if (rt->has_pending)
		(void)zmq_msg_close(rt->pending);
	rt->has_pending = false;
	if (rt->sock != NULL)
		(void)zmq_close(rt->sock);
	rt->sock = NULL;
	free(rt->peers);
	free(rt->pending);
	rt->peers = NULL;
	rt->pending = NULL;
}

/* Returns the slot of the peer with that routing id, adding it (evicting an idle one when
 * the table is full); -ENOSPC if every slot has events in flight. */
static int
peer_slot(struct router *rt, const void *id, size_t len)
{
	size_t victim = PEERS_MAX;

	for (size_t i = 0; i < rt->n_peers; i++) {
		struct rpeer *p = &rt->peers[i];
		if (p->id_len == len && memcmp(p->id, id, len) == 0)
			return (int)i;
		bool idle = p->inflight == 0 && !(rt->has_pending && rt->pending_peer == i);
		if (idle && (victim == PEERS_MAX || p->last_ms < rt->peers[victim].last_ms))
			victim = i;
	}
	if (rt->n_peers < PEERS_MAX)
		victim = rt->n_peers++;
	else if (victim == PEERS_MAX)
		return -ENOSPC;
	struct rpeer *p = &rt->peers[victim];
	memset(p, 0, sizeof(*p));
	memcpy(p->id, id, len);
	p->id_len = (uint8_t)len;
	return (int)victim;
}

/* Appends one event payload from peer `slot` to b, decoded, validated and authorised
 * against the CURVE identity of src (the message holding p). Returns 1, 0 if the peer's
 * window is full (the event is refused, the peer resends it) or -ENOMEM. */
static int
take_event(struct router *rt, const struct decode_opts *o, struct batch *b, uint32_t slot,
    zmq_msg_t *src, const uint8_t *p, size_t len, int reason)
{
	struct rpeer *peer = &rt->peers[slot];

	if (peer->inflight >= rt->window) {
		rt->window_drops++;
		return 0;
	}
	struct zt_entry *e = batch_next(b, p, len, slot + 1);
	if (e == NULL)
		return -ENOMEM;
	peer->inflight++;
	peer->last_ms = now_monotonic_ms();
	if (reason != ZT_REJECT_NONE)
		e->reason_in = (uint16_t)reason;
	else
		(void)decode_message(o, NULL, 0, p, len, e, NULL);
	curve_authorize(src, e);
	return 1;
}

/* Reads a protobuf varint at *pos. Returns 0, or -EINVAL if truncated or too long. */
static int
varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64 && *pos < len; shift += 7) {
		uint8_t c = p[(*pos)++];
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Finds the next TradeEvent (field 1) of an EventBatch from *pos, skipping other fields.
 * @return 1 with *ret_off and *ret_len set; 0 at the end; -EINVAL if the rest is malformed.
 */
static int
next_event(const uint8_t *p, size_t len, size_t *pos, size_t *ret_off, size_t *ret_len)
{
	while (*pos < len) {
		uint64_t tag, n;
		if (varint(p, len, pos, &tag) < 0)
			return -EINVAL;
		switch (tag & 7) {
		case 0:
			if (varint(p, len, pos, &n) < 0)
				return -EINVAL;
			continue;
		case 1:
		case 5:
			n = (tag & 7) == 1 ? 8 : 4;
			break;
		case 2:
			if (varint(p, len, pos, &n) < 0)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
		if (n > len - *pos)
			return -EINVAL;
		size_t off = *pos;
		*pos += (size_t)n;
		if (tag == (1u << 3 | 2)) {
			*ret_off = off;
			*ret_len = (size_t)n;
			return 1;
		}
	}
	return 0;
}

/* Takes as many events of the pending EventBatch as fit in b, and drops the message once
 * it is used up. Returns 1 if it made progress, 0 if not, or -ENOMEM. */
static int
take_pending(struct router *rt, const struct decode_opts *o, struct batch *b)
{
	const uint8_t *p = zmq_msg_data(rt->pending);
	size_t len = zmq_msg_size(rt->pending);
	int took = 0;

	while (b->n < b->cap && rt->pending_pos < len) {
		size_t start = rt->pending_pos, off = 0, n = 0;
		int r = next_event(p, len, &rt->pending_pos, &off, &n);
		if (r == 0)
			break;
		if (r < 0) { /* the malformed rest counts once, as undecodable */
			r = take_event(rt, o, b, rt->pending_peer, rt->pending, p + start,
			    len - start, ZT_REJECT_UNDECODABLE);
			rt->pending_pos = len;
		} else {
			r = take_event(
			    rt, o, b, rt->pending_peer, rt->pending, p + off, n, ZT_REJECT_NONE);
		}
		if (r < 0) {
			rt->pending_pos = len;
			took = r;
			break;
		}
		took = 1;
	}
	if (rt->pending_pos >= len) {
		(void)zmq_msg_close(rt->pending);
		rt->has_pending = false;
	}
	return took;
}

/* Hands a received payload to the right decoder. Takes ownership of msg. */
static int
dispatch(struct router *rt, const struct decode_opts *o, struct batch *b, uint32_t slot,
    zmq_msg_t *msg, bool extra_frames)
{
	const uint8_t *p = zmq_msg_data(msg);
	size_t len = zmq_msg_size(msg);
	int r;

	if (extra_frames || len == 0) {
		r = take_event(rt, o, b, slot, msg, p, len, ZT_REJECT_FRAME_COUNT);
	} else if (p[0] == ROUTER_TYPE_EVENT) {
		r = take_event(rt, o, b, slot, msg, p + 1, len - 1, ZT_REJECT_NONE);
	} else if (p[0] == ROUTER_TYPE_BATCH) {
		zmq_msg_init(rt->pending);
		(void)zmq_msg_move(rt->pending, msg);
		rt->has_pending = true;
		rt->pending_peer = slot;
		rt->pending_pos = 1;
		r = take_pending(rt, o, b);
	} else {
		r = take_event(rt, o, b, slot, msg, p, len, ZT_REJECT_UNDECODABLE);
	}
	zmq_msg_close(msg);
	return r < 0 ? r : 1;
}

/*
 * Takes one message (or the rest of a pending EventBatch) into b without blocking.
 * @return 1 if something was taken, 0 if nothing was waiting or b is full, or a negative
 *     errno.
 */
int
router_recv(struct router *rt, const struct decode_opts *o, struct batch *b)
{
	zmq_msg_t id, msg;

	if (rt->sock == NULL || b->n == b->cap)
		return 0;
	if (rt->has_pending)
		return take_pending(rt, o, b);
	zmq_msg_init(&id);
	if (zmq_msg_recv(&id, rt->sock, ZMQ_DONTWAIT) < 0) {
		int r = errno == EAGAIN ? 0 : -errno;
		zmq_msg_close(&id);
		return r;
	}
	zmq_msg_init(&msg);
	bool extra = false;
	if (!zmq_msg_more(&id) || zmq_msg_recv(&msg, rt->sock, 0) < 0)
		extra = true; /* an empty message: no payload frame */
	else if (zmq_msg_more(&msg))
		extra = ingest_discard_rest(rt->sock) > 0;
	int slot = peer_slot(rt, zmq_msg_data(&id), zmq_msg_size(&id));
	zmq_msg_close(&id);
	if (slot < 0) {
		rt->window_drops++;
		zmq_msg_close(&msg);
		return 1;
	}
	return dispatch(rt, o, b, (uint32_t)slot, &msg, extra);
}
