/*
 * ingest.c: the ZeroMQ SUB socket publishers send to, and the endpoints file that tells the
 * world (and the tests) where it listens. Receives whole multipart messages and hands each
 * one, as a batch entry, to decode.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "daemon.h"

/* Sets the SUB socket's options, ZMQ_MAXMSGSIZE as above. */
static int
sub_options(void *sub, const struct zt_config *c)
{
	int hwm = (int)c->rcvhwm, linger = 0;
	int64_t maxsize = (int64_t)c->max_message_bytes * 2 + 64;

	if (maxsize < ZT_SOCKET_MSG_FLOOR)
		maxsize = ZT_SOCKET_MSG_FLOOR;
	if (zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &maxsize, sizeof(maxsize)) < 0 ||
	    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, c->subscribe, strlen(c->subscribe)) < 0)
		return -errno;
	return 0;
}

/*
 * Creates the SUB socket, binds and connects it as configured and records the resolved
 * bind endpoints (tcp://127.0.0.1:* becomes a real port).
 * @param[out] err on failure, which endpoint and why
 * @return 0 or a negative errno.
 */
int
ingest_open(struct ingest *in, void *zctx, const struct zt_config *c, char *err, size_t errlen)
{
	memset(in, 0, sizeof(*in));
	in->zctx = zctx;
	in->sub = zmq_socket(zctx, ZMQ_SUB);
	if (in->sub == NULL || sub_options(in->sub, c) < 0 ||
	    curve_server(in->sub, ZT_ZAP_PUBLISHERS) < 0) {
		int r = -errno;
		(void)snprintf(err, errlen, "SUB socket: %s", zmq_strerror(errno));
		return r;
	}
	for (size_t i = 0; i < c->n_sub_bind; i++) {
		size_t len = ZT_ENDPOINT_MAX;
		if (zmq_bind(in->sub, c->sub_bind[i]) < 0 ||
		    zmq_getsockopt(in->sub, ZMQ_LAST_ENDPOINT, in->bound[i], &len) < 0) {
			int r = -errno;
			(void)snprintf(err, errlen, "cannot bind '%s': %s", c->sub_bind[i],
			    zmq_strerror(errno));
			return r;
		}
		in->n_bound++;
	}
	for (size_t i = 0; i < c->n_sub_connect; i++) {
		if (zmq_connect(in->sub, c->sub_connect[i]) < 0) {
			int r = -errno;
			(void)snprintf(err, errlen, "cannot connect to '%s': %s", c->sub_connect[i],
			    zmq_strerror(errno));
			return r;
		}
	}
	return 0;
}

/* Closes the socket at once (linger 0: nothing of ours waits in it). Idempotent. */
void
ingest_close(struct ingest *in)
{
	if (in->sub != NULL)
		(void)zmq_close(in->sub);
	in->sub = NULL;
}

/* Receives the remaining frames of a message and throws them away; returns their count.
 * Shared with router.c: both sockets reject a message with extra frames the same way. */
size_t
ingest_discard_rest(void *sub)
{
	size_t n = 0;
	int more = 1;

	while (more) {
		zmq_msg_t f;
		zmq_msg_init(&f);
		if (zmq_msg_recv(&f, sub, 0) < 0) {
			zmq_msg_close(&f);
			break;
		}
		n++;
		more = zmq_msg_more(&f);
		zmq_msg_close(&f);
	}
	return n;
}

/*
 * Receives one whole message without blocking and appends it to b, decoded and validated.
 * @return 1 if a message was taken, 0 if none was waiting or b is full, or a negative errno.
 */
int
ingest_recv(struct ingest *in, const struct decode_opts *o, struct batch *b)
{
	zmq_msg_t topic, payload;
	int r = 0;

	if (b->n == b->cap)
		return 0;
	zmq_msg_init(&topic);
	zmq_msg_init(&payload);
	if (zmq_msg_recv(&topic, in->sub, ZMQ_DONTWAIT) < 0) {
		r = errno == EAGAIN ? 0 : -errno;
		goto out;
	}
	size_t frames = 1;
	if (zmq_msg_more(&topic)) {
		/* Frames of a message arrive together: once the first is here, so are the rest. */
		if (zmq_msg_recv(&payload, in->sub, 0) >= 0) {
			frames++;
			if (zmq_msg_more(&payload))
				frames += ingest_discard_rest(in->sub);
		}
	}
	zmq_msg_t *body = frames >= 2 ? &payload : &topic;
	struct zt_entry *e = batch_next(b, zmq_msg_data(body), zmq_msg_size(body), 0);
	if (e == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (frames != 2) {
		e->reason_in = ZT_REJECT_FRAME_COUNT;
	} else {
		unsigned unknown = 0;
		(void)decode_message(o, zmq_msg_data(&topic), zmq_msg_size(&topic),
		    zmq_msg_data(&payload), zmq_msg_size(&payload), e, &unknown);
		if (unknown > 0)
			in->unknown_fields++;
		curve_authorize(&payload, e);
	}
	r = 1;
out:
	zmq_msg_close(&payload);
	zmq_msg_close(&topic);
	return r;
}

/*
 * Writes <state_dir>/zonetallyd.endpoints atomically: one "sub <endpoint>" line per bound
 * endpoint, "metrics <addr:port>", "ingest <endpoint>" for the acknowledged path's ROUTER
 * when it is on, then the lines of `extra` (other sockets' "kind endpoint" lines, each
 * ending in a newline; may be NULL). Its appearance means "ready".
 * @return 0 or a negative errno.
 */
int
ingest_write_endpoints(const struct ingest *in, const char *state_dir, const char *extra)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (f == NULL)
		return -errno;
	for (size_t i = 0; i < in->n_bound; i++)
		(void)fprintf(f, "sub %s\n", in->bound[i]);
	if (in->metrics_bound != NULL)
		(void)fprintf(f, "metrics %s\n", in->metrics_bound);
	if (in->ingest_ep[0] != '\0')
		(void)fprintf(f, "ingest %s\n", in->ingest_ep);
	if (extra != NULL)
		(void)fputs(extra, f);
	int r = fclose(f) == 0 ? state_file_write(state_dir, ZT_ENDPOINTS_FILE, text) : -ENOMEM;
	free(text);
	return r;
}

/* Removes the endpoints file (at exit: the daemon no longer listens). */
void
ingest_remove_endpoints(const char *state_dir)
{
	state_file_remove(state_dir, ZT_ENDPOINTS_FILE);
}
