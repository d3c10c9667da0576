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
 *
 * Issue 14: the feed's PUB socket has the ZAP domain "feed" whatever its mechanism (libzmq
 * 4.3 asks ZAP about a NULL-mechanism connection when a handler is bound and the socket has
 * a domain; without a domain it does not, so the other plaintext sockets are never asked).
 * A feed connection is admitted only while at most [feed] max_watchers are connected, itself
 * included: this thread reads the feed socket's monitor (accepted and disconnected, each
 * with its fd) and keeps the set of open feed connections. It drains the monitor before
 * each feed decision: libzmq's I/O thread sends a connection's ACCEPTED event before its
 * ZAP request, so the count always includes the connection asking.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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
	_Atomic(void *) monitor_in; /* the feed's monitor PAIR, handed over by feed_open() */
	void *monitor;              /* this thread's once taken */
	int *fds;                   /* open feed connections (this thread) */
	size_t n_fds, cap_fds;
	atomic_uint watchers;       /* n_fds, for metrics */
	atomic_uint max_watchers;   /* [feed] max_watchers (reloadable) */
	atomic_ullong feed_refused; /* feed handshakes refused because watchers were at max */
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
	if (strcmp(domain, ZT_ZAP_READERS) == 0 || strcmp(domain, ZT_ZAP_FEED) == 0)
		return 1; /* feed watchers are readers */
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

/* Adds or removes one feed connection's fd. */
static void
track(uint16_t event, int fd)
{
	if (event == ZMQ_EVENT_DISCONNECTED) {
		for (size_t i = 0; i < zap.n_fds; i++)
			if (zap.fds[i] == fd) {
				zap.fds[i] = zap.fds[--zap.n_fds];
				break;
			}
		return;
	}
	if (zap.n_fds == zap.cap_fds) {
		size_t cap = zap.cap_fds ? 2 * zap.cap_fds : 64;
		int *p = realloc(zap.fds, cap * sizeof(*p));
		if (p == NULL) {
			log_warnx("zap: out of memory to count a feed connection, ignoring");
			return;
		}
		zap.fds = p;
		zap.cap_fds = cap;
	}
	zap.fds[zap.n_fds++] = fd;
}

/* Reads every waiting monitor event of the feed socket into the set of connections. The
 * set holds one int per open connection: the process's open files bound it. */
static void
drain_monitor(void)
{
	if (zap.monitor == NULL)
		zap.monitor = atomic_exchange(&zap.monitor_in, NULL);
	while (zap.monitor != NULL) {
		zmq_msg_t ev, addr;
		zmq_msg_init(&ev);
		zmq_msg_init(&addr);
		int r = zmq_msg_recv(&ev, zap.monitor, ZMQ_DONTWAIT);
		if (r >= 0 && zmq_msg_more(&ev))
			(void)zmq_msg_recv(&addr, zap.monitor, 0);
		if (r == 6) { /* uint16_t event, uint32_t value (the fd) */
			uint16_t event;
			uint32_t fd;
			memcpy(&event, zmq_msg_data(&ev), sizeof(event));
			memcpy(&fd, (const uint8_t *)zmq_msg_data(&ev) + 2, sizeof(fd));
			track(event, (int)fd);
		}
		zmq_msg_close(&ev);
		zmq_msg_close(&addr);
		if (r < 0)
			break;
	}
	atomic_store(&zap.watchers, (unsigned)zap.n_fds);
}

/* True if the asking connection fits (it is counted); counts a refusal, logs it. */
static bool
watcher_room(const struct request *q)
{
	drain_monitor();
	unsigned n = (unsigned)zap.n_fds, max = atomic_load(&zap.max_watchers);

	if (n <= max)
		return true;
	atomic_fetch_add(&zap.feed_refused, 1);
	if (log_allowed())
		log_warnx("zap: refused a feed watcher from %s: %u connections, max_watchers %u",
		    q->f[3], n - 1, max);
	return false;
}

/* Answers one request and logs the verdict. */
static void
handle(void *rep, const struct request *q)
{
	char user[ZT_KEY_NAME_MAX + 1] = "", key[ZT_KEY_Z85_LEN + 1] = "?";
	bool feed = q->frames > 2 && strcmp(q->f[2], ZT_ZAP_FEED) == 0;

	/* plaintext (NULL mechanism): only the feed has a domain, and only its count decides */
	if (q->frames == ZAP_FRAMES - 1 && strcmp(q->f[0], "1.0") == 0 &&
	    strcmp(q->f[5], "NULL") == 0) {
		bool ok = !feed || watcher_room(q);
		send_reply(rep, q, ok ? "200" : "400", ok ? "OK" : "too many watchers", "");
		return;
	}
	if (q->frames != ZAP_FRAMES || strcmp(q->f[0], "1.0") != 0) {
		send_reply(rep, q, "500", "malformed ZAP request", "");
		atomic_fetch_add(&zap.refused, 1);
		log_warnx("zap: malformed request (%zu frames), refusing", q->frames);
		return;
	}
	if (admit(q, user, sizeof(user))) {
		if (feed && !watcher_room(q)) {
			send_reply(rep, q, "400", "too many watchers", "");
			return;
		}
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

/* Waits for a request, reading the feed's monitor meanwhile (so that its queue stays short).
 * @return 0 when a request waits, -ETERM at shutdown, or another -errno. */
static int
wait_request(void *rep)
{
	for (;;) {
		zmq_pollitem_t items[2] = {
		    {.socket = rep, .events = ZMQ_POLLIN},
		    {.socket = zap.monitor, .events = ZMQ_POLLIN},
		};
		/* until the feed hands its monitor over, look for it every 100 ms */
		if (zmq_poll(items, zap.monitor != NULL ? 2 : 1, zap.monitor != NULL ? -1 : 100) <
		    0)
			return errno == EINTR ? 0 : -errno;
		drain_monitor();
		if (items[0].revents & ZMQ_POLLIN)
			return 0;
	}
}

/* The thread: answers until the context terminates, then closes its sockets. */
static void *
run(void *arg)
{
	void *rep = arg;
	struct request q;

	for (;;) {
		int r = wait_request(rep);
		if (r == 0)
			r = recv_request(rep, &q);
		if (r == -ETERM)
			break;
		if (r == 0)
			handle(rep, &q);
		else if (r != -EINTR)
			log_warnx("zap: receive: %s", zmq_strerror(-r));
	}
	(void)zmq_close(rep);
	drain_monitor(); /* takes a monitor handed over late, to close it */
	if (zap.monitor != NULL)
		(void)zmq_close(zap.monitor);
	zap.monitor = NULL;
	free(zap.fds);
	zap.fds = NULL;
	zap.n_fds = zap.cap_fds = 0;
	return NULL;
}

int
zap_start(
    void *zctx, struct zt_allowlist *pubs, struct zt_allowlist *readers, char *err, size_t errlen)
{
	if (zap.started) { /* the feed's count started it before CURVE: only the lists change */
		zap_swap(pubs, readers);
		return 0;
	}
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

/*
 * Starts the handler (without lists) if CURVE did not, so that the feed's plaintext
 * connections are counted; sets the bound. Call before the feed binds.
 * @return 0 or a negative errno (err says why).
 */
int
zap_feed_start(void *zctx, uint32_t max_watchers, char *err, size_t errlen)
{
	atomic_store(&zap.max_watchers, max_watchers);
	return zap.started ? 0 : zap_start(zctx, NULL, NULL, err, errlen);
}

void
zap_feed_limit(uint32_t max_watchers)
{
	atomic_store(&zap.max_watchers, max_watchers);
}

/* Hands the feed monitor's PAIR (connected, not used since) to the ZAP thread, which owns
 * it from now on; the atomic exchange is the memory barrier libzmq asks for. */
void
zap_feed_attach(void *monitor)
{
	atomic_store(&zap.monitor_in, monitor);
}

void
zap_feed_counts(uint64_t *ret_watchers, uint64_t *ret_refused)
{
	*ret_watchers = atomic_load(&zap.watchers);
	*ret_refused = atomic_load(&zap.feed_refused);
}
