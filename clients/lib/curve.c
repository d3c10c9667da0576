/*
 * curve.c: the client side of zonetally's CURVE: one call that gives a socket the daemon's
 * public key and this client's key pair, so that every client (zonetally-pub today, the
 * CLI's --connect later) reads key files the same way.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>

#include "zonetally.h"
#include "zt_keyfile.h"

/* The server's public key: Z85 text as given, or the public-key of a file. */
static int
server_public(const char *server_key, char *ret, char *err, size_t errlen)
{
	struct zt_keyfile k;
	int r;

	if (zt_key_z85_ok(server_key)) {
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
