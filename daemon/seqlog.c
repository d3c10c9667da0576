/*
 * seqlog.c: the log lines of per-publisher sequence anomalies (DESIGN.md §4). The store
 * counts gaps, regressions and late messages in each publisher's record (`zonetally stats`);
 * this file says in the log, after the commit, which range went missing on which path, so
 * that an operator can ask the publisher for exactly that range. Rate-limited: a publisher
 * with a broken counter must not flood the journal.
 */
#include "daemon.h"

#define SEQLOG_BURST  20    /* lines per period, at most */
#define SEQLOG_PERIOD 10000 /* ms */

static int64_t period_start;
static unsigned logged;
static uint64_t suppressed;

static bool
may_log(void)
{
	int64_t now = now_monotonic_ms();

	if (now - period_start >= SEQLOG_PERIOD) {
		if (suppressed > 0)
			log_warnx("publishers: %llu more sequence gaps or restarts not logged",
			    (unsigned long long)suppressed);
		period_start = now;
		logged = 0;
		suppressed = 0;
	}
	if (logged < SEQLOG_BURST) {
		logged++;
		return true;
	}
	suppressed++;
	return false;
}

/* Logs the gaps and restarts that the store found in a committed batch. */
void
seqlog_batch(const struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct zt_entry *e = &b->e[i];
		if (!e->has_seq || e->seq_gap == 0 || !may_log())
			continue;
		const char *path = b->tag[i].peer != 0 ? "acknowledged" : "PUB";
		if (e->seq_gap == ZT_SEQ_REGRESSION)
			log_warnx("publisher '%s' restarted from sequence 1 (%s path)",
			    e->ev.publisher, path);
		else if (b->tag[i].peer != 0)
			log_info("publisher '%s': sequences %llu..%llu not received yet (%llu); "
			         "not acknowledged past them until they are resent",
			    e->ev.publisher, (unsigned long long)(e->ev.sequence - e->seq_gap),
			    (unsigned long long)(e->ev.sequence - 1),
			    (unsigned long long)e->seq_gap);
		else
			log_warnx("publisher '%s': sequence gap %llu..%llu (%llu messages lost on "
			          "the PUB path)",
			    e->ev.publisher, (unsigned long long)(e->ev.sequence - e->seq_gap),
			    (unsigned long long)(e->ev.sequence - 1),
			    (unsigned long long)e->seq_gap);
	}
}
