/*
 * curve.c: the client side of zonetally's CURVE: one call that gives a socket the daemon's
 * public key and this client's key pair, so that every client (zonetally-pub today, the
 * CLI's --connect later) reads key files the same way.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zmq.h>

#include "zonetally.h"
#include "zt_keyfile.h"

/*
 * The server's public key: the public-key of a file, or Z85 text as given. Decided by what
 * the argument is, never by its length: a path that exists is a file (a 40-character path
 * is also valid Z85, since '/', '.' and '-' are Z85 characters); otherwise 40 Z85 characters
 * are a key; anything else is read as a file, for its error.
 */
static int
server_public(const char *server_key, char *ret, char *err, size_t errlen)
{
	struct zt_keyfile k;
	struct stat st;
	int r;

	if (stat(server_key, &st) < 0 && zt_key_z85_ok(server_key)) {
		memcpy(ret, server_key, ZT_KEY_Z85_LEN + 1);
		return 0;
	}
	if ((r = zt_keyfile_load(server_key, false, &k, err, errlen)) < 0)
		return r;
	memcpy(ret, k.public_key, ZT_KEY_Z85_LEN + 1);
	return 0;
}

int
zt_curve_client(
    void *sock, const char *server_key, const char *client_key_file, char *err, size_t errlen)
{
	char server[ZT_KEY_Z85_LEN + 1];
	struct zt_keyfile k;
	int r;

	if (!zmq_has("curve")) {
		(void)snprintf(err, errlen, "this libzmq has no CURVE support");
		return -ENOTSUP;
	}
	if ((r = server_public(server_key, server, err, errlen)) < 0 ||
	    (r = zt_keyfile_load(client_key_file, true, &k, err, errlen)) < 0)
		return r;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server, sizeof(server)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k.public_key, sizeof(k.public_key)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k.secret_key, sizeof(k.secret_key)) < 0) {
		r = -errno;
		(void)snprintf(err, errlen, "CURVE socket options: %s", zmq_strerror(errno));
	}
	explicit_bzero(&k, sizeof(k));
	return r;
}

/* ---- handshake watch: a refusal said as such, not a timeout ---- */

#define WATCH_EVENTS                                                                     \
	(ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |  \
	    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | \
	    ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

struct zt_curve_watch {
	void *sock;  /* the watched socket (borrowed) */
	void *pair;  /* receives its monitor events */
	bool curve;  /* the socket is a CURVE client */
	bool failed; /* an explicit handshake failure since the last success */
	bool cut;    /* connected, then disconnected before any handshake succeeded */
	bool connected, ok;
	uint16_t event;
	uint32_t value;
};

int
zt_curve_watch_new(void *ctx, void *sock, bool curve, struct zt_curve_watch **ret)
{
	struct zt_curve_watch *w = calloc(1, sizeof(*w));
	char ep[64];
	int linger = 0;

	if (w == NULL)
		return -ENOMEM;
	(void)snprintf(ep, sizeof(ep), "inproc://zt-curve-watch-%p", (void *)w);
	w->sock = sock;
	w->curve = curve;
	if (zmq_socket_monitor(sock, ep, WATCH_EVENTS) < 0 ||
	    (w->pair = zmq_socket(ctx, ZMQ_PAIR)) == NULL) {
		int r = -errno;
		zt_curve_watch_free(w);
		return r;
	}
	(void)zmq_setsockopt(w->pair, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(w->pair, ep) < 0) {
		int r = -errno;
		zt_curve_watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct zt_curve_watch *
zt_curve_watch_free(struct zt_curve_watch *w)
{
	if (w == NULL)
		return NULL;
	(void)zmq_socket_monitor(w->sock, NULL, 0);
	if (w->pair != NULL)
		(void)zmq_close(w->pair);
	free(w);
	return NULL;
}

/* Reads the monitor events waiting, without blocking. */
static void
drain_events(struct zt_curve_watch *w)
{
	for (;;) {
		zmq_msg_t ev, addr;
		zmq_msg_init(&ev);
		zmq_msg_init(&addr);
		if (zmq_msg_recv(&ev, w->pair, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			zmq_msg_close(&addr);
			return;
		}
		if (zmq_msg_more(&ev))
			(void)zmq_msg_recv(&addr, w->pair, 0);
		if (zmq_msg_size(&ev) >= 6) {
			const uint8_t *d = zmq_msg_data(&ev);
			uint16_t e;
			uint32_t v;
			memcpy(&e, d, sizeof(e));
			memcpy(&v, d + 2, sizeof(v));
			if (e == ZMQ_EVENT_CONNECTED) {
				w->connected = true;
			} else if (e == ZMQ_EVENT_DISCONNECTED) {
				w->cut = w->cut || (w->connected && !w->ok);
				w->connected = w->ok = false;
			} else if (e == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
				w->ok = true;
				w->failed = w->cut = false;
			} else {
				w->failed = true;
				w->event = e;
				w->value = v;
			}
		}
		zmq_msg_close(&ev);
		zmq_msg_close(&addr);
	}
}

int
zt_curve_watch_failed(struct zt_curve_watch *w, bool final, char *err, size_t errlen)
{
	const char *fix = w->curve ? "check --curve-server-key (the daemon's public key, its "
	                             "NAME.pub) and --curve-key (this client's NAME.key, whose "
	                             "NAME.pub must be in the daemon's allowlist)"
	                           : "the daemon may require CURVE: give --curve-server-key and "
	                             "--curve-key";

	drain_events(w);
	if (w->failed && w->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
		(void)snprintf(err, errlen,
		    "the daemon refused the %s handshake (ZAP status %u): %s",
		    w->curve ? "CURVE" : "plaintext", w->value,
		    w->curve ? "this client's key (--curve-key) is not in its allowlist for this "
		               "socket"
		             : "it requires CURVE: give --curve-server-key and --curve-key");
		return 1;
	}
	if (w->failed) {
		(void)snprintf(err, errlen, "the %s handshake failed (%s): %s",
		    w->curve ? "CURVE" : "ZMTP",
		    w->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error"
		                                                    : "no detail",
		    fix);
		return 1;
	}
	if (final && w->cut && w->curve) {
		(void)snprintf(err, errlen,
		    "the daemon closed the connection during the CURVE handshake: "
		    "--curve-server-key is probably not its public key (or it does not use CURVE)");
		return 1;
	}
	return 0;
}
