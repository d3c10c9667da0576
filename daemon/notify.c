/*
 * notify.c: the systemd notification protocol (sd_notify): READY, STATUS with the live
 * rate, WATCHDOG while the ingest loop makes progress, RELOADING and STOPPING. Outside
 * systemd (no NOTIFY_SOCKET) every call is a cheap no-op.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"

#define STATUS_EVERY_MS 5000

/*
 * Reads WATCHDOG_USEC (if the watchdog is meant for this process) and the test-only fault
 * hook ZT_TEST_WEDGE_AFTER_MS, which makes the loop stop turning that many ms after start
 * so that a test can see the watchdog pings stop.
 */
void
notify_init(struct notify *n)
{
	uint64_t usec = 0;
	const char *wedge = getenv("ZT_TEST_WEDGE_AFTER_MS");

	memset(n, 0, sizeof(*n));
	if (sd_watchdog_enabled(0, &usec) > 0)
		n->watchdog_ms = (int64_t)(usec / 1000);
	n->last_status_ms = now_monotonic_ms();
	if (wedge != NULL && wedge[0] != '\0') {
		long long v = strtoll(wedge, NULL, 10);
		if (v > 0)
			n->wedge_at_ms = n->last_status_ms + (int64_t)v;
	}
	if (n->watchdog_ms > 0)
		log_info("systemd watchdog: %lld ms, pinging every %lld ms while ingest progresses",
		    (long long)n->watchdog_ms, (long long)(n->watchdog_ms / 2));
}

/* Sends one notification; a failure is logged but never stops the daemon. */
static void
send_state(const char *state)
{
	int r = sd_notify(0, state);

	if (r < 0)
		log_warnx("sd_notify('%.40s'): %s, ignoring", state, strerror(-r));
}

/* READY=1 with a first STATUS: the store is open and every socket is bound. */
void
notify_ready(struct notify *n, const char *status)
{
	char buf[512];

	(void)snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	send_state(buf);
	n->last_ping_ms = now_monotonic_ms();
}

void
notify_reloading(void)
{
	send_state("RELOADING=1\nSTATUS=reloading the configuration");
}

/* READY=1 after a reload, with what became of it. */
void
notify_reloaded(const char *status)
{
	char buf[512];

	(void)snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	send_state(buf);
}

void
notify_stopping(void)
{
	send_state("STOPPING=1\nSTATUS=stopping: committing what is buffered");
}

/*
 * The longest the loop may sleep in poll so that watchdog pings keep their cadence.
 * @return timeout capped, in ms (timeout < 0 means "none yet").
 */
long
notify_poll_cap(const struct notify *n, long timeout)
{
	/* At least once a second: metrics refresh their store gauges from the loop too. */
	long cap = n->watchdog_ms > 0 && n->watchdog_ms < 4000 ? (long)(n->watchdog_ms / 4) : 1000;

	if (cap < 1)
		cap = 1;
	return timeout < 0 || timeout > cap ? cap : timeout;
}

/* The test-only fault hook: the loop stops here for good (the test SIGKILLs it). */
static void
maybe_wedge(const struct notify *n, int64_t now)
{
	if (n->wedge_at_ms == 0 || now < n->wedge_at_ms)
		return;
	log_warnx("ZT_TEST_WEDGE_AFTER_MS: test fault hook, wedging the ingest loop");
	for (;;) {
		struct timespec ts = {.tv_sec = 1};
		(void)nanosleep(&ts, NULL);
	}
}

/*
 * Whether the loop is making progress: it turned (we are called from it) and the writer is
 * not stuck on one batch for longer than the watchdog interval.
 */
static bool
progressing(struct notify *n, const struct daemon *d, int64_t now)
{
	if (!d->w.busy || d->commits != n->last_commits) {
		n->busy_since_ms = d->w.busy ? now : 0;
		n->last_commits = d->commits;
		return true;
	}
	if (n->busy_since_ms == 0)
		n->busy_since_ms = now;
	return now - n->busy_since_ms < n->watchdog_ms;
}

/* Called once per loop turn: WATCHDOG=1 at half the interval, STATUS= every few seconds. */
void
notify_tick(struct notify *n, const struct daemon *d)
{
	int64_t now = now_monotonic_ms();
	char buf[512];

	maybe_wedge(n, now);
	if (n->watchdog_ms > 0 && now - n->last_ping_ms >= n->watchdog_ms / 2 &&
	    progressing(n, d, now)) {
		send_state("WATCHDOG=1");
		n->last_ping_ms = now;
	}
	if (now - n->last_status_ms < STATUS_EVERY_MS)
		return;
	double secs = (double)(now - n->last_status_ms) / 1000.0;
	(void)snprintf(buf, sizeof(buf),
	    "STATUS=ingest %.0f msg/s; since start %" PRIu64 " received, %" PRIu64
	    " accepted, %" PRIu64 " duplicates, %" PRIu64 " rejected, %" PRIu64 " commits",
	    (double)(d->received - n->last_received) / secs, d->received, d->accepted,
	    d->duplicates, d->rejected, d->commits);
	send_state(buf);
	n->last_status_ms = now;
	n->last_received = d->received;
}
