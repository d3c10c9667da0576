/*
 * log.c: zonetallyd's logging, with OpenBSD's API, to stderr. Under systemd (JOURNAL_STREAM
 * set) each line carries its syslog priority prefix (<3>, <4>, <6>, <7>) so that journald
 * files it at the right level. A detached daemon has no stderr (it points at /dev/null):
 * from log_syslog() on, lines go to syslog (facility daemon), as OpenBSD's daemons log.
 * Rejection lines are rate-limited per reason.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "daemon.h"

static const char *progname = "zonetallyd";
static int verbose = ZT_LOG_INFO;
static int journal;
static int to_syslog;

/* Per reason: the second of the last line printed, and lines suppressed since. */
static struct {
	time_t sec;
	unsigned long suppressed;
} reject_rl[ZT_REJECT__COUNT];

void
log_init(const char *name, int level)
{
	progname = name;
	verbose = level;
	journal = getenv("JOURNAL_STREAM") != NULL;
}

/*
 * Sends every later line to syslog (ident progname, LOG_PID, facility daemon) instead of
 * stderr; for a detached daemon, called before its stderr goes to /dev/null. The socket is
 * opened now (LOG_NDELAY), before the chdir("/") and any chroot-like step.
 */
void
log_syslog(void)
{
	openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	to_syslog = 1;
}

void
log_setlevel(int level)
{
	verbose = level;
}

int
log_getlevel(void)
{
	return verbose;
}

static void vlog(int level, const char *errtext, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* One line, written with one stdio call so that threads do not interleave within it. */
static void
vlog(int level, const char *errtext, const char *fmt, va_list ap)
{
	static const char *const prefix[] = {"<3>", "<4>", "<6>", "<7>"};
	static const char *const label[] = {"error: ", "warning: ", "", "debug: "};
	static const int priority[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[1024];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (to_syslog) /* syslog(3) is thread-safe and writes one datagram per line */
		syslog(priority[level], "%s%s%s", msg, errtext ? ": " : "", errtext ? errtext : "");
	else if (journal)
		(void)fprintf(stderr, "%s%s%s%s\n", prefix[level], msg, errtext ? ": " : "",
		    errtext ? errtext : "");
	else
		(void)fprintf(stderr, "%s: %s%s%s%s\n", progname, label[level], msg,
		    errtext ? ": " : "", errtext ? errtext : "");
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (verbose < ZT_LOG_WARNING)
		return;
	va_start(ap, fmt);
	vlog(ZT_LOG_WARNING, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (verbose < ZT_LOG_WARNING)
		return;
	va_start(ap, fmt);
	vlog(ZT_LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (verbose < ZT_LOG_INFO)
		return;
	va_start(ap, fmt);
	vlog(ZT_LOG_INFO, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_debug(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (verbose < ZT_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vlog(ZT_LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

/*
 * A warning about one rejected message. A flood of bad input must not flood the log: at
 * most one line per reason per second, the next one saying how many were not shown.
 * Called from the main thread only.
 */
void
log_reject(int reason, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	if (verbose < ZT_LOG_WARNING || reason <= 0 || reason >= ZT_REJECT__COUNT)
		return;
	time_t now = time(NULL);
	if (reject_rl[reason].sec == now) {
		reject_rl[reason].suppressed++;
		return;
	}
	reject_rl[reason].sec = now;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (reject_rl[reason].suppressed > 0)
		log_warnx("rejected (%s): %s (and %lu more like it not shown)",
		    zt_reject_name(reason), msg, reject_rl[reason].suppressed);
	else
		log_warnx("rejected (%s): %s", zt_reject_name(reason), msg);
	reject_rl[reason].suppressed = 0;
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(ZT_LOG_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(ZT_LOG_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
