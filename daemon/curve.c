/*
 * curve.c: CURVE encryption and authorisation for every socket of the daemon. When
 * [security] curve_secret_key_file is set, security_start() loads the daemon's key pair and
 * the allowlists and starts the ZAP handler (zap.c) before any socket exists; then each
 * socket becomes a CURVE server with one call, curve_server(sock, domain), before it binds
 * or connects. Each received message is authorised with curve_authorize(): the connection's
 * ZAP User-Id (never the event's publisher_id) must still be on the current allowlist and
 * hold the event's zone.
 *
 * The state is process-wide on purpose: libzmq allows one ZAP handler per context, and the
 * one-line call must not need plumbing through every socket's open function.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "daemon.h"
#include "zt_keyfile.h"

static struct {
	bool on;
	char secret[ZT_KEY_Z85_LEN + 1]; /* Z85; wiped at stop */
	char public_key[ZT_KEY_Z85_LEN + 1];
	/* absolute; only its directory is used: relative [security] paths start there */
	char config[PATH_MAX];
} sec;

/* Remembers where relative paths start, once, before detach's chdir("/"): the directory of
 * the configuration file main.c read, or the working directory when it read none. */
static int
set_base(const char *config_path)
{
	if (config_path == NULL && access(ZT_CONFIG_DEFAULT_PATH, F_OK) == 0)
		config_path = ZT_CONFIG_DEFAULT_PATH; /* main.c reads it in this case too */
	if (config_path == NULL)
		config_path = "zonetallyd.conf"; /* a name in the working directory */
	return zt_keyfile_resolve(NULL, config_path, sec.config, sizeof(sec.config));
}

/* path made absolute against the configuration's directory. */
static void
resolve(const char *path, char *out, size_t size)
{
	if (zt_keyfile_resolve(sec.config, path, out, size) < 0)
		(void)snprintf(out, size, "%s", path); /* too long: the open will say so */
}

/* Loads both allowlists of c. @return 0 or a negative errno with err set. */
static int
load_lists(const struct zt_config *c, struct zt_allowlist **pubs, struct zt_allowlist **readers,
    char *err, size_t errlen)
{
	char dir[PATH_MAX + 256];
	int r;

	resolve(c->authorized_dir, dir, sizeof(dir));
	if ((r = zt_allowlist_load(dir, true, pubs, err, errlen)) < 0)
		return r;
	if ((*pubs)->n == 0)
		log_warnx("security: no publisher keys in '%s': every publisher is refused", dir);
	resolve(c->readers_dir, dir, sizeof(dir));
	if ((r = zt_allowlist_load(dir, false, readers, err, errlen)) < 0)
		*pubs = zt_allowlist_free(*pubs);
	return r;
}

/*
 * With curve_secret_key_file set: loads the key pair (refused if open to group/others) and
 * both allowlists, and binds the ZAP handler. Call after zmq_ctx_new(), before any socket.
 * @param config_path the file main.c read, or NULL (default path if it exists, else cwd)
 * @return 0 (also when CURVE is off); a negative errno with err set: start-up must stop.
 */
int
security_start(
    void *zctx, const struct zt_config *c, const char *config_path, char *err, size_t errlen)
{
	char path[PATH_MAX + 256];
	struct zt_keyfile k;
	struct zt_allowlist *pubs = NULL, *readers = NULL;
	int r;

	if (c->curve_secret_key_file[0] == '\0')
		return 0; /* plaintext: the loopback demo */
	if ((r = set_base(config_path)) < 0) {
		(void)snprintf(err, errlen, "security: configuration path: %s", strerror(-r));
		return r;
	}
	resolve(c->curve_secret_key_file, path, sizeof(path));
	if ((r = zt_keyfile_load(path, true, &k, err, errlen)) < 0)
		return r;
	if (!zmq_has("curve")) {
		(void)snprintf(err, errlen, "security: this libzmq has no CURVE support");
		return -ENOTSUP;
	}
	if ((r = load_lists(c, &pubs, &readers, err, errlen)) < 0 ||
	    (r = zap_start(zctx, pubs, readers, err, errlen)) < 0) {
		(void)zt_allowlist_free(pubs);
		(void)zt_allowlist_free(readers);
		return r;
	}
	memcpy(sec.secret, k.secret_key, sizeof(sec.secret));
	memcpy(sec.public_key, k.public_key, sizeof(sec.public_key));
	explicit_bzero(&k, sizeof(k));
	sec.on = true;
	log_info("security: CURVE on, server public key %s; %zu publisher and %zu reader keys",
	    sec.public_key, pubs->n, readers->n);
	return 0;
}

/* SIGHUP: re-reads both allowlists of c and swaps them in; on error (err set) the running
 * lists stay. Main thread only. @return 0 or a negative errno. */
int
security_reload(const struct zt_config *c, char *err, size_t errlen)
{
	struct zt_allowlist *pubs = NULL, *readers = NULL;
	int r;

	if (!sec.on)
		return 0;
	if ((r = load_lists(c, &pubs, &readers, err, errlen)) < 0)
		return r;
	log_info("security: allowlists reloaded: %zu publisher and %zu reader keys", pubs->n,
	    readers->n);
	zap_swap(pubs, readers);
	return 0;
}

/* After zmq_ctx_term(): joins the ZAP thread, frees the lists, wipes the secret key. */
void
security_stop(void)
{
	zap_stop(); /* also when only the feed's watcher count started it */
	explicit_bzero(sec.secret, sizeof(sec.secret));
	sec.on = false;
}

bool
security_on(void)
{
	return sec.on;
}

/*
 * The one call each daemon socket makes before it binds or connects: with CURVE on, it
 * becomes a CURVE server with the daemon's key whose clients ZAP checks in `domain`
 * (ZT_ZAP_PUBLISHERS or ZT_ZAP_READERS); with CURVE off, nothing changes.
 * @return 0 or a negative errno from zmq_setsockopt().
 */
int
curve_server(void *sock, const char *domain)
{
	int one = 1;

	if (!sec.on)
		return 0;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec.secret, sizeof(sec.secret)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) < 0)
		return -errno;
	return 0;
}

/*
 * Authorises one received ingest message by the User-Id ZAP gave its connection, against the
 * current publishers' list (so a revoked key is refused at once): the key must hold the
 * event's zone (else unauthorized_zone) and may use only its own name or its publisher-ids
 * as publisher_id (else unauthorized_publisher). A publisher_id the key may not use never
 * reaches per-publisher state (sequence, gaps), whatever the message's outcome. Call after
 * decode, on the main thread; nothing happens with CURVE off.
 * @param msg any frame of the message (they carry the same properties)
 * @param[in,out] e the decoded entry: reason_in (if still NONE) and has_seq may change
 */
void
curve_authorize(struct zmq_msg_t *msg, struct zt_entry *e)
{
	if (!sec.on)
		return;
	/* Set by our ZAP handler at the handshake; absent only if no handler ran. */
	const char *user = zmq_msg_gets(msg, "User-Id");
	const struct zt_allow_entry *a =
	    user != NULL ? zt_allowlist_by_name(zap_publishers(), user) : NULL;
	bool id_ok = e->has_seq && zt_allowlist_publisher_ok(a, e->ev.publisher);

	if (!id_ok)
		e->has_seq = false;
	if (e->reason_in != ZT_REJECT_NONE)
		return; /* the validator's reason stands */
	if (!zt_allowlist_zone_ok(a, e->ev.zone)) {
		e->reason_in = ZT_REJECT_UNAUTHORIZED_ZONE;
		/* the one line that names the key: the commit's line cannot */
		log_reject(e->reason_in, "key '%s' may not publish for zone %06u%s",
		    user != NULL ? user : "?", e->ev.zone,
		    a == NULL ? " (no longer on the allowlist)" : "");
	} else if (!id_ok) {
		e->reason_in = ZT_REJECT_UNAUTHORIZED_PUBLISHER;
		log_reject(
		    e->reason_in, "key '%s' may not use publisher_id '%s'", user, e->ev.publisher);
	}
}

/*
 * For the query socket (issue 4): whether a request comes from a reader still on the
 * current readers' list (a revoked reader's open connection is refused per request, as a
 * revoked publisher's is). Always true with CURVE off.
 */
bool
curve_reader_ok(struct zmq_msg_t *msg)
{
	if (!sec.on)
		return true;
	const char *user = zmq_msg_gets(msg, "User-Id");
	return user != NULL && zap_reader_known(user); /* called from the query thread */
}
