/*
 * reload.c: SIGHUP reload, and the two small files that make it observable from outside:
 * <state_dir>/zonetallyd.pid and <state_dir>/zonetallyd.reload ("PID GENERATION ok|failed
 * TEXT"), which `zonetally reload` watches so that `systemctl reload` is synchronous.
 * A reload runs between batches (the writer idle), so no event is dropped or applied under
 * half-changed limits; a bad file keeps the running configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static unsigned long generation;

/* Records the outcome of reload number `generation` for `zonetally reload`. */
static void
report(const struct daemon *d, bool ok, const char *text)
{
	char buf[512];

	(void)snprintf(buf, sizeof(buf), "%ld %lu %s %s\n", (long)getpid(), generation,
	    ok ? "ok" : "failed", text);
	int r = state_file_write(d->conf->state_dir, ZT_RELOAD_FILE, buf);
	if (r < 0)
		log_warnx("cannot write %s/%s: %s, ignoring", d->conf->state_dir, ZT_RELOAD_FILE,
		    strerror(-r));
}

/*
 * Writes the pid file and the initial reload status (generation 0), once the daemon is
 * ready; the status even when the pid file fails (`zonetally reload` asks the lock, not
 * the pid file). @return 0 or the pid file's negative errno.
 */
int
reload_files_write(const struct daemon *d)
{
	char buf[32];

	(void)snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	int r = state_file_write(d->conf->state_dir, ZT_PID_FILE, buf);
	report(d, true, "started");
	return r;
}

/* Removes both files at exit: no daemon answers SIGHUP any more. */
void
reload_files_remove(const char *state_dir)
{
	state_file_remove(state_dir, ZT_PID_FILE);
	state_file_remove(state_dir, ZT_RELOAD_FILE);
}

struct changes {
	int live;
	int restart;
};

/* Logs one changed key, and whether it takes effect now. */
static void
log_change(const char *section, const char *key, bool reloadable, void *arg)
{
	struct changes *ch = arg;

	if (reloadable) {
		ch->live++;
		log_info("reload: [%s] %s changed", section, key);
	} else {
		ch->restart++;
		log_warnx("reload: [%s] %s changed but needs a restart; keeping the running value",
		    section, key);
	}
}

/* Makes both batch buffers hold what the new max_events needs (they are idle here). */
static int
fit_buffers(struct daemon *d, const struct zt_config *next)
{
	size_t cap = batch_cap(next);

	for (int i = 0; i < 2; i++) {
		int r = batch_grow(&d->bufs[i], cap);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Puts the live keys of the new configuration to work in every module that copied them. */
static void
apply_live(struct daemon *d)
{
	const struct zt_config *c = d->conf;

	log_setlevel(c->log_level);
	d->dopts.max_value_fen = c->max_value_fen;
	d->w.opts.future_tolerance_ms = (int64_t)c->future_tolerance_s * 1000;
	d->w.opts.dedup_window_days = c->dedup_window_days;
	d->w.opts.rejects_max = c->rejects_max;
	query_limits(&d->query, c);
	zap_feed_limit(c->feed_max_watchers);
	metrics_set_reader_warn(d->metrics, c->reader_warn_s);
	acktrack_keep(&d->ack, batch_cap(c));
}

/* Reads, validates and merges the new file; on any failure the running config stays. */
static int
reload_config(struct daemon *d, struct changes *ch, char *err, size_t errlen)
{
	struct zt_config next;
	int r = d->reload_load(&next, err, errlen);

	if (r < 0)
		return r;
	(void)zt_config_diff(d->conf, &next, log_change, ch);
	if ((r = zt_config_copy_keys(&next, d->conf, false)) < 0 ||
	    (r = fit_buffers(d, &next)) < 0) {
		(void)snprintf(err, errlen, "out of memory");
		zt_config_done(&next);
		return r;
	}
	/* the allowlists: a bad file keeps the running lists, like a bad configuration */
	if ((r = security_reload(&next, err, errlen)) < 0) {
		zt_config_done(&next);
		return r;
	}
	struct zt_config old = *d->conf;
	*d->conf = next;
	zt_config_done(&old);
	apply_live(d);
	return 0;
}

/*
 * Reloads the configuration; call only between batches (the writer idle). Notifies
 * systemd (RELOADING=1, then READY=1) and records the outcome for `zonetally reload`.
 */
void
reload_run(struct daemon *d)
{
	struct changes ch = {0};
	char err[ZT_CONFIG_ERR_LEN + 64] = "", text[ZT_CONFIG_ERR_LEN + 128];

	generation++;
	notify_reloading();
	log_info("SIGHUP: reloading the configuration");
	if (reload_config(d, &ch, err, sizeof(err)) < 0) {
		log_warnx("reload failed: %s; keeping the running configuration", err);
		(void)snprintf(text, sizeof(text), "%s; keeping the running configuration", err);
		report(d, false, text);
		metrics_reload(d->metrics, false);
		notify_reloaded("reload failed; running with the previous configuration");
		return;
	}
	(void)snprintf(
	    text, sizeof(text), "%d keys changed live, %d need a restart", ch.live, ch.restart);
	log_info("reload done: %s", text);
	report(d, true, text);
	metrics_reload(d->metrics, true);
	notify_reloaded("reloaded; ingesting");
}
