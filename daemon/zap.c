/*
 * zap.c: the ZeroMQ Authentication Protocol (ZAP, RFC 27) handler, written with libzmq
 * alone: a thread with a REP socket on inproc://zeromq.zap.01 that answers libzmq's
 * questions "may this CURVE client key connect to domain D?". Without a handler bound,
 * libzmq 4.3 admits every client key, so zap_start() binds before any socket of the daemon
 * binds, and fails start-up if it cannot.
 *
 * The handler admits a key only if it is in the allowlist of the socket's domain
 * ("publishers" or "readers") and answers with User-Id = the key's NAME, which every message
 * of that connection then carries (curve.c authorises zones by it). The lists are swapped
 * whole on reload under a mutex; the ZAP thread holds the mutex only while it looks a key up.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "daemon.h"
#include "zt_keyfile.h"

#define ZAP_ENDPOINT   "inproc://zeromq.zap.01"
#define ZAP_FRAMES     7   /* version, request id, domain, address, routing id, mechanism, key */
#define ZAP_FRAME_MAX  256 /* longer frames are cut: no legitimate field comes near it */
#define LOG_PER_SECOND 5   /* connection log lines, so that a reconnect storm cannot flood */

static struct {
	pthread_mutex_t lock; /* guards lists[] against the main thread's swap */
	struct zt_allowlist *lists[2];
	pthread_t thread;
	bool started;
	atomic_ullong admitted; /* handshakes, for metrics (read from the metrics thread) */
	atomic_ullong refused;
} zap = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* One request, each frame copied (and cut at ZAP_FRAME_MAX). */
struct request {
	char f[ZAP_FRAMES][ZAP_FRAME_MAX + 1];
	size_t len[ZAP_FRAMES];
	size_t frames; /* frames received; more than ZAP_FRAMES means malformed */
};

/* Receives every frame of one request. @return 0, -ETERM at shutdown, or -errno. */
static int
recv_request(void *rep, struct request *q)
{
	int more = 1;

	q->frames = 0;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, rep, 0) < 0) {
			int r = -errno;
			zmq_msg_close(&m);
			if (r == -EINTR)
				continue; /* the next call goes on with the same message */
			return r;
		}
		if (q->frames < ZAP_FRAMES) {
			size_t n = zmq_msg_size(&m);
			q->len[q->frames] = n < ZAP_FRAME_MAX ? n : ZAP_FRAME_MAX;
			memcpy(q->f[q->frames], zmq_msg_data(&m), q->len[q->frames]);
			q->f[q->frames][q->len[q->frames]] = '\0';
		}
		q->frames++;
		more = zmq_msg_more(&m);
		zmq_msg_close(&m);
	}
	return 0;
}

/* Sends the six-frame reply; an error here only loses this one handshake. */
static void
send_reply(void *rep, const struct request *q, const char *code, const char *text, const char *user)
{
	const char *frames[6] = {"1.0", q->frames > 1 ? q->f[1] : "", code, text, user, ""};
	size_t lens[6] = {
	    3, q->frames > 1 ? q->len[1] : 0, strlen(code), strlen(text), strlen(user), 0};

	for (int i = 0; i < 6; i++)
		if (zmq_send(rep, frames[i], lens[i], i < 5 ? ZMQ_SNDMORE : 0) < 0)
			return;
}

/* Logs at most LOG_PER_SECOND connection lines a second, then says how many it skipped. */
static bool
log_allowed(void)
{
	static time_t sec;
	static unsigned lines, skipped;
	time_t now = time(NULL);

	if (now != sec) {
		if (skipped > 0)
			log_warnx("zap: %u more connection lines skipped", skipped);
		sec = now;
		lines = skipped = 0;
	}
	if (lines < LOG_PER_SECOND) {
		lines++;
		return true;
	}
	skipped++;
	return false;
}

/* Which list a ZAP domain names: 0 publishers, 1 readers, -1 none. */
static int
domain_index(const char *domain)
{
	if (strcmp(domain, ZT_ZAP_PUBLISHERS) == 0)
		return 0;
	if (strcmp(domain, ZT_ZAP_READERS) == 0)
		return 1;
	return -1;
}

/* Decides one well-formed CURVE request; copies the admitted key's name into user. */
static bool
admit(const struct request *q, char *user, size_t size)
{
	int i = domain_index(q->f[2]);
	bool ok = false;

	if (i < 0 || strcmp(q->f[5], "CURVE") != 0 || q->len[6] != 32)
		return false;
	(void)pthread_mutex_lock(&zap.lock);
	const struct zt_allow_entry *e =
	    zt_allowlist_by_key(zap.lists[i], (const uint8_t *)q->f[6]);
	if (e != NULL) {
		(void)snprintf(user, size, "%s", e->name);
		ok = true;
	}
	(void)pthread_mutex_unlock(&zap.lock);
	return ok;
}

/* Answers one request and logs the verdict. */
static void
handle(void *rep, const struct request *q)
{
	char user[ZT_KEY_NAME_MAX + 1] = "", key[ZT_KEY_Z85_LEN + 1] = "?";

	if (q->frames != ZAP_FRAMES || strcmp(q->f[0], "1.0") != 0) {
		send_reply(rep, q, "500", "malformed ZAP request", "");
		atomic_fetch_add(&zap.refused, 1);
		log_warnx("zap: malformed request (%zu frames), refusing", q->frames);
		return;
	}
	if (admit(q, user, sizeof(user))) {
		send_reply(rep, q, "200", "OK", user);
		atomic_fetch_add(&zap.admitted, 1);
		if (log_allowed())
			log_info("zap: admitted %s '%s' from %s", q->f[2], user, q->f[3]);
		return;
	}
	send_reply(rep, q, "400", "key not authorised", "");
	atomic_fetch_add(&zap.refused, 1);
	if (q->len[6] == 32)
		(void)zmq_z85_encode(key, (const uint8_t *)q->f[6], 32);
	if (log_allowed())
		log_warnx("zap: refused %s client key %s (%s) from %s: not in the allowlist",
		    q->f[2], key, q->f[5], q->f[3]);
}

/* The thread: answers until the context terminates, then closes its socket. */
static void *
run(void *arg)
{
	void *rep = arg;
	struct request q;

	for (;;) {
		int r = recv_request(rep, &q);
		if (r == -ETERM)
			break;
		if (r == 0)
			handle(rep, &q);
		else if (r != -EINTR)
			log_warnx("zap: receive: %s", zmq_strerror(-r));
	}
	(void)zmq_close(rep);
	return NULL;
}

int
zap_start(
    void *zctx, struct zt_allowlist *pubs, struct zt_allowlist *readers, char *err, size_t errlen)
{
	int linger = 0;
	void *rep = zmq_socket(zctx, ZMQ_REP);

	if (rep == NULL || zmq_setsockopt(rep, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_bind(rep, ZAP_ENDPOINT) < 0) {
		int r = -errno;
		(void)snprintf(err, errlen, "ZAP handler: cannot bind %s: %s", ZAP_ENDPOINT,
		    zmq_strerror(errno));
		if (rep != NULL)
			(void)zmq_close(rep);
		return r;
	}
	zap.lists[0] = pubs;
	zap.lists[1] = readers;
	/* Signals stay with the main thread (its self-pipe wakes the loop). The socket moves to
	 * the thread: pthread_create is the memory barrier libzmq asks for. */
	sigset_t all, old;
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&zap.thread, NULL, run, rep);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		(void)snprintf(err, errlen, "ZAP handler thread: %s", strerror(r));
		(void)zmq_close(rep);
		zap.lists[0] = zap.lists[1] = NULL;
		return -r;
	}
	zap.started = true;
	return 0;
}

void
zap_swap(struct zt_allowlist *pubs, struct zt_allowlist *readers)
{
	(void)pthread_mutex_lock(&zap.lock);
	struct zt_allowlist *old_pubs = zap.lists[0], *old_readers = zap.lists[1];
	zap.lists[0] = pubs;
	zap.lists[1] = readers;
	(void)pthread_mutex_unlock(&zap.lock);
	(void)zt_allowlist_free(old_pubs);
	(void)zt_allowlist_free(old_readers);
}

const struct zt_allowlist *
zap_publishers(void)
{
	/* no lock: only the main thread swaps, and it is the caller */
	return zap.lists[0];
}

const struct zt_allowlist *
zap_readers(void)
{
	return zap.lists[1]; /* as zap_publishers() */
}

/* True if name is on the readers' allowlist now. Any thread (the query thread): it looks
 * the name up under the mutex that the main thread's swap takes. */
bool
zap_reader_known(const char *name)
{
	(void)pthread_mutex_lock(&zap.lock);
	bool ok = zt_allowlist_by_name(zap.lists[1], name) != NULL;
	(void)pthread_mutex_unlock(&zap.lock);
	return ok;
}

void
zap_stop(void)
{
	if (zap.started)
		(void)pthread_join(zap.thread, NULL);
	zap.started = false;
	zap_swap(NULL, NULL);
}

void
zap_counts(uint64_t *ret_admitted, uint64_t *ret_refused)
{
	*ret_admitted = atomic_load(&zap.admitted);
	*ret_refused = atomic_load(&zap.refused);
}
