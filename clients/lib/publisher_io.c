/*
 * publisher_io.c: the socket side of zt_publisher_*: EventBatch messages out, IngestAcks in,
 * and the resend timer. See publisher.c for the window and zonetally.h for the contract.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "pubconn.h"
#include "zonetally.pb-c.h"

#define TYPE_BATCH 0x02
#define TYPE_ACK   0x03

typedef Zonetally__V1__IngestAck IngestAck;

static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Encodes up to batch_max unsent events as [0x02][EventBatch] in pc->buf. */
static int
build_batch(struct zt_pubconn *pc, size_t *ret_n, size_t *ret_len)
{
	size_t need = 1, n = 0;

	for (size_t i = pc->unsent; i < pc->count && n < pc->o.batch_max; i++, n++)
		need += 11 + pc->ring[(pc->head + i) % pc->cap].len;
	if (need > pc->buf_cap) {
		uint8_t *nb = realloc(pc->buf, need);
		if (nb == NULL)
			return -ENOMEM;
		pc->buf = nb;
		pc->buf_cap = need;
	}
	size_t len = 0;
	pc->buf[len++] = TYPE_BATCH;
	for (size_t i = 0; i < n; i++) {
		const struct pc_slot *s = &pc->ring[(pc->head + pc->unsent + i) % pc->cap];
		pc->buf[len++] = 1u << 3 | 2; /* field 1, length-delimited */
		len += put_varint(pc->buf + len, s->len);
		memcpy(pc->buf + len, s->data, s->len);
		len += s->len;
	}
	*ret_n = n;
	*ret_len = len;
	return 0;
}

/* Sends unsent events while the socket takes them. Returns 0 or a negative errno. */
static int
send_pending(struct zt_pubconn *pc)
{
	while (pc->unsent < pc->count) {
		size_t n, len;
		int r = build_batch(pc, &n, &len);
		if (r < 0)
			return r;
		if (zmq_send(pc->sock, pc->buf, len, ZMQ_DONTWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		pc->unsent += n;
		pc->st.sent += n;
	}
	return 0;
}

/* Drops the events up to `through` from the ring. Returns how many. */
static size_t
release(struct zt_pubconn *pc, uint64_t through)
{
	size_t k = 0;
	int64_t now = pc_now_us();

	while (pc->count > 0 && pc->ring[pc->head].seq <= through) {
		int64_t lat = now - pc->ring[pc->head].queued_us;
		lathist_add(&pc->ack_us, lat > 0 ? (uint64_t)lat : 0);
		if (pc->ring[pc->head].reason != 0) {
			pc->st.rejected++;
			pc->st.by_reason[pc->ring[pc->head].reason]++;
		}
		free(pc->ring[pc->head].data);
		pc->ring[pc->head].data = NULL;
		pc->head = (pc->head + 1) % pc->cap;
		pc->count--;
		k++;
	}
	pc->unsent = pc->unsent >= k ? pc->unsent - k : 0;
	return k;
}

/* Returns the ring slot holding seq, or NULL (the ring is ordered by sequence). */
static struct pc_slot *
find_slot(struct zt_pubconn *pc, uint64_t seq)
{
	size_t lo = 0, hi = pc->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct pc_slot *s = &pc->ring[(pc->head + mid) % pc->cap];
		if (s->seq == seq)
			return s;
		if (s->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Notes the rejections of an ack on the events still in the ring. An ack held back by a gap
 * may list a rejection that a later ack (moving the mark over it) does not repeat, so the
 * reason stays with the event until it is released, and is counted then, once.
 */
static void
note_rejections(struct zt_pubconn *pc, const IngestAck *a)
{
	for (size_t i = 0; i < a->n_rejected; i++) {
		const Zonetally__V1__Rejection *j = a->rejected[i];
		/* beyond the mark, an unknown reversal is not final: its original may be in the
		 * gap, and the daemon holds the mark so that the resend is judged again */
		if (j->code == ZT_REJECT_REVERSAL_UNKNOWN && j->sequence > a->through_sequence)
			continue;
		struct pc_slot *s = find_slot(pc, j->sequence);
		if (s != NULL && j->code > 0 && j->code < ZT_REJECT__COUNT)
			s->reason = (uint16_t)j->code;
	}
}

/* Applies one IngestAck. Returns the number of events it released, or a negative errno. */
static int
on_ack(struct zt_pubconn *pc, const uint8_t *p, size_t len)
{
	if (len < 1 || p[0] != TYPE_ACK)
		return 0;
	IngestAck *a = zonetally__v1__ingest_ack__unpack(NULL, len - 1, p + 1);
	if (a == NULL)
		return 0;
	int r = 0;
	if (a->has_through_sequence && a->publisher_id != NULL &&
	    strcmp(a->publisher_id, pc->publisher) == 0) {
		note_rejections(pc, a);
		if (a->through_sequence > pc->st.through)
			pc->st.through = a->through_sequence;
		/* a mark that did not move still covers events queued since (a rerun of
		 * sequences the daemon already has) */
		size_t k = release(pc, a->through_sequence);
		if (k == 0)
			goto out;
		pc->st.acked += k;
		pc->progress_ms = pc->acked_ms = pc_now_ms();
		r = (int)k;
		if (pc->has_spool) {
			int s = spool_acked(
			    &pc->sp, pc->st.through, pc->ring, pc->cap, pc->head, pc->count);
			r = s < 0 ? s : r;
		}
	}
out:
	zonetally__v1__ingest_ack__free_unpacked(a, NULL);
	return r;
}

/* Reads every acknowledgement waiting. Returns the events released or a negative errno. */
static int
read_acks(struct zt_pubconn *pc)
{
	int total = 0;

	for (;;) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, pc->sock, ZMQ_DONTWAIT) < 0) {
			int e = errno;
			zmq_msg_close(&m);
			if (e == EINTR)
				continue;
			return e == EAGAIN ? total : -e;
		}
		int r = on_ack(pc, zmq_msg_data(&m), zmq_msg_size(&m));
		zmq_msg_close(&m);
		if (r < 0)
			return r;
		total += r;
	}
}

int
zt_publisher_poll(struct zt_pubconn *pc, int timeout_ms)
{
	int r = send_pending(pc);

	if (r < 0)
		return r;
	if (pc->count > 0) { /* wake in time for the resend */
		int64_t left = pc->progress_ms + pc->o.resend_ms - pc_now_ms();
		if (left < timeout_ms)
			timeout_ms = left < 0 ? 0 : (int)left;
	}
	zmq_pollitem_t it = {.socket = pc->sock, .events = ZMQ_POLLIN};
	if (zmq_poll(&it, 1, timeout_ms) < 0 && errno != EINTR)
		return -errno;
	int acked = read_acks(pc);
	if (acked < 0)
		return acked;
	if (pc->count > 0 && pc_now_ms() - pc->progress_ms >= (int64_t)pc->o.resend_ms) {
		/* no progress: what was sent may be lost (daemon restart); go back to the mark */
		pc->st.resent += pc->unsent;
		pc->unsent = 0;
		pc->progress_ms = pc_now_ms();
	}
	r = send_pending(pc);
	return r < 0 ? r : acked;
}

int
zt_publisher_flush(struct zt_pubconn *pc, int timeout_ms)
{
	int64_t last = pc_now_ms();

	while (pc->count > 0) {
		int r = zt_publisher_poll(pc, 100);
		if (r < 0)
			return r;
		char why[8];
		if (r > 0)
			last = pc_now_ms();
		else if (zt_publisher_handshake_failed(pc, false, why, sizeof(why)))
			return -ECONNREFUSED; /* the caller asks again for the text */
		else if (pc_now_ms() - last >= timeout_ms)
			return -ETIMEDOUT;
	}
	return 0;
}
