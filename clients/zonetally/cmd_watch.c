/*
 * cmd_watch.c: `zonetally watch [CODE...] [PERIOD] [--json] [--heartbeats]`: follows the
 * live feed of one daemon (the one of --state-dir, found through its endpoints file) or of
 * every --connect shard, through zt_watch_*. Terminal mode redraws a table of the current
 * day's (month's, year's, all-time) totals every second and at once when the terminal is
 * resized, as many rows as fit; --json prints one line per applied change (snapshot blocks
 * included, so the last line of each block is the view) and one "status" line whenever the
 * view turns live, syncing, stale or offline.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define REFRESH_MS   1000
#define HEADER_LINES 3  /* title, blank, column names */
#define DEFAULT_ROWS 25 /* terminal height when it cannot be read (not a terminal) */

static volatile sig_atomic_t stop, resized;

static void
on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else
		stop = 1;
}

struct wctx {
	const struct cli *c;
	bool heartbeats;
	bool period_set;       /* --day/--month/--year/--all given: --json keeps that period */
	struct zt_period want; /* the period the table shows */
	struct zt_zone *zones;
	size_t n_zones;
	int state; /* enum zt_watch_state last reported, -1: none yet */
};

static const char *const level_names[ZT_LEVEL__COUNT] = {"nation", "province", "zone"};
static const char *const kind_names[] = {"snapshot", "update", "heartbeat"};

/* The block as `get --json` prints it, plus what the watcher knows of it. */
static struct json_object *
event_json(const struct zt_watch_event *ev)
{
	struct json_object *o;
	char code[16];

	if (ev->block == NULL) {
		o = json_object_new_object();
		if (o == NULL ||
		    json_object_object_add(
		        o, "kind", json_object_new_string(kind_names[ev->kind])) ||
		    json_object_object_add(o, "shard", json_object_new_uint64(ev->shard)) ||
		    json_object_object_add(o, "feed_seq", json_object_new_uint64(ev->feed_seq))) {
			json_object_put(o);
			return NULL;
		}
		return o;
	}
	const struct zt_qblock *b = ev->block;
	o = zt_fmt_dirs_json(&b->b, ZT_MODE_ALL);
	(void)snprintf(code, sizeof(code), "%06u", b->code);
	if (o == NULL ||
	    json_object_object_add(o, "kind", json_object_new_string(kind_names[ev->kind])) ||
	    json_object_object_add(o, "shard", json_object_new_uint64(ev->shard)) ||
	    json_object_object_add(o, "feed_seq", json_object_new_uint64(ev->feed_seq)) ||
	    json_object_object_add(o, "code", json_object_new_string(code)) ||
	    json_object_object_add(o, "level", json_object_new_string(level_names[b->level])) ||
	    json_object_object_add(o, "period", zt_fmt_period_json(&b->period)) ||
	    zt_fmt_add_modes_json(o, &b->b) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int
json_cb(const struct zt_watch_event *ev, void *arg)
{
	const struct wctx *x = arg;

	if (ev->kind == ZT_WATCH_HEARTBEAT && !x->heartbeats)
		return 0;
	if (ev->block != NULL && x->period_set &&
	    (ev->block->period.gran != x->want.gran || ev->block->period.bucket != x->want.bucket))
		return 0;
	return print_json(event_json(ev)) == 0 ? 0 : -EIO;
}

/* Today's zone rows of the view, for the table. */
struct row {
	uint32_t code;
	struct zt_totals_block b;
};

struct collect {
	struct row *rows;
	size_t n, cap;
	struct zt_period want;
	int64_t nation_events; /* -1: the nation is not watched */
	int64_t province_events;
	int64_t zone_events;
};

static int
collect_cb(const struct zt_watch_event *ev, void *arg)
{
	struct collect *c = arg;
	const struct zt_qblock *b = ev->block;

	if (b->period.gran != c->want.gran || b->period.bucket != c->want.bucket)
		return 0;
	int64_t n = b->b.t[ZT_DIR_ALL][ZT_MODE_ALL].events;
	if (b->level == ZT_LEVEL_NATION)
		c->nation_events = n;
	else if (b->level == ZT_LEVEL_PROVINCE)
		c->province_events += n;
	else
		c->zone_events += n;
	if (b->level != ZT_LEVEL_ZONE || c->n == c->cap)
		return 0;
	c->rows[c->n].code = b->code;
	c->rows[c->n++].b = b->b;
	return 0;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int64_t vx = x->b.t[ZT_DIR_ALL][ZT_MODE_ALL].value_fen;
	int64_t vy = y->b.t[ZT_DIR_ALL][ZT_MODE_ALL].value_fen;

	if (vx != vy)
		return vx > vy ? -1 : 1;
	return x->code < y->code ? -1 : x->code > y->code;
}

static const char *
zone_name(const struct wctx *x, uint32_t code, char *buf, size_t len)
{
	for (size_t i = 0; i < x->n_zones; i++)
		if (x->zones[i].code == code) {
			(void)snprintf(buf, len, "%s %s", x->zones[i].city_en, x->zones[i].city_zh);
			return buf;
		}
	(void)snprintf(buf, len, "%06u", code);
	return buf;
}

/* The terminal's height in rows, DEFAULT_ROWS when stdout is not a terminal. */
static size_t
term_rows(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0)
		return DEFAULT_ROWS;
	return ws.ws_row;
}

/* "live", or "stale: no heartbeat for 4 s": what the header says of the view. */
static void
state_text(struct zt_watch *w, char *buf, size_t len)
{
	int64_t silence;
	int st = zt_watch_state(w, &silence);

	if (st == ZT_WATCH_STALE || st == ZT_WATCH_OFFLINE)
		(void)snprintf(buf, len, "%s: no heartbeat for %lld s", zt_watch_state_name(st),
		    (long long)(silence / 1000));
	else
		(void)snprintf(buf, len, "%s", zt_watch_state_name(st));
}

/*
 * Redraws the table: the period's zones by total value, as many as the terminal's height
 * leaves room for, and the rate since the last redraw.
 */
static void
draw(struct zt_watch *w, const struct wctx *x, int64_t *last_events, double secs)
{
	static struct row rows[1024];
	struct collect c = {.rows = rows, .cap = 1024, .nation_events = -1, .want = x->want};
	struct zt_watch_stats st;
	char per[16], state[64], rate_s[ZT_YUAN_LEN], resyncs[ZT_YUAN_LEN];

	(void)zt_watch_each(w, collect_cb, &c);
	qsort(rows, c.n, sizeof(*rows), row_cmp);
	zt_watch_get_stats(w, &st);
	if (x->want.gran == ZT_GRAN_ALL)
		(void)snprintf(per, sizeof(per), "all time");
	else
		(void)zt_period_format(&x->want, per, sizeof(per));
	state_text(w, state, sizeof(state));
	/* the widest level watched: zones nest (Yiwu in Jinhua), roll-ups do not */
	int64_t events = c.nation_events >= 0 ? c.nation_events
	    : c.province_events > 0           ? c.province_events
	                                      : c.zone_events;
	double rate = *last_events >= 0 && secs > 0 ? (double)(events - *last_events) / secs : 0.0;
	*last_events = events;
	(void)zt_fmt_count((int64_t)(rate + 0.5), rate_s);
	(void)zt_fmt_count((int64_t)st.resyncs, resyncs);
	(void)printf("\033[H\033[2Jzonetally watch  %s%s  %s  %s events/s  resyncs %s\n\n", per,
	    x->want.gran == ZT_GRAN_ALL ? "" : " (CST)", state, rate_s, resyncs);
	size_t room = term_rows();
	room = room > HEADER_LINES + 1 ? room - HEADER_LINES - 1 : 1;
	(void)printf("code    ");
	cell("zone", 32, false);
	cell("import (yuan)", 20, true);
	cell("export (yuan)", 20, true);
	cell("total (yuan)", 20, true);
	cell("events", 12, true);
	(void)putchar('\n');
	if (c.n == 0)
		(void)printf("no data for %s yet\n", per);
	for (size_t i = 0; i < c.n && i < room; i++) {
		char name[128], imp[ZT_YUAN_LEN], exp[ZT_YUAN_LEN], tot[ZT_YUAN_LEN],
		    ev[ZT_YUAN_LEN];
		const struct zt_totals_block *b = &rows[i].b;
		(void)zt_fmt_yuan(b->t[ZT_DIR_IMPORT][ZT_MODE_ALL].value_fen, imp);
		(void)zt_fmt_yuan(b->t[ZT_DIR_EXPORT][ZT_MODE_ALL].value_fen, exp);
		(void)zt_fmt_yuan(b->t[ZT_DIR_ALL][ZT_MODE_ALL].value_fen, tot);
		(void)zt_fmt_count(b->t[ZT_DIR_ALL][ZT_MODE_ALL].events, ev);
		(void)printf("%06u  ", rows[i].code);
		cell(zone_name(x, rows[i].code, name, sizeof(name)), 32, false);
		(void)putchar(' ');
		cell(imp, 20, true);
		cell(exp, 20, true);
		cell(tot, 20, true);
		cell(ev, 12, true);
		(void)putchar('\n');
	}
	(void)fflush(stdout);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --json: one {"kind":"status"} line each time the view's state changes. */
static int
json_status(struct zt_watch *w, struct wctx *x)
{
	int64_t silence;
	int st = zt_watch_state(w, &silence);

	if (st == x->state)
		return 0;
	x->state = st;
	struct json_object *o = json_object_new_object();
	if (o == NULL || json_object_object_add(o, "kind", json_object_new_string("status")) < 0 ||
	    json_object_object_add(o, "state", json_object_new_string(zt_watch_state_name(st))) <
	        0 ||
	    json_object_object_add(o, "silence_ms", json_object_new_int64(silence)) < 0) {
		json_object_put(o);
		o = NULL;
	}
	return print_json(o) == 0 ? 0 : -EIO;
}

/* Runs until SIGINT/SIGTERM. */
static int
watch_loop(struct zt_watch *w, struct wctx *x)
{
	int64_t last_draw = 0, last_events = -1;
	int r = 0;

	while (!stop && r == 0) {
		r = zt_watch_poll(w, x->c->json ? 200 : 100, x->c->json ? json_cb : NULL, x);
		if (r == 0 && x->c->json)
			r = json_status(w, x);
		if (x->c->json || r != 0)
			continue;
		int64_t now = mono_ms();
		if (now - last_draw >= REFRESH_MS || resized) {
			resized = 0;
			draw(
			    w, x, &last_events, last_draw ? (double)(now - last_draw) / 1000.0 : 0);
			last_draw = now;
		}
	}
	if (r != 0 && r != -EINTR) {
		(void)fprintf(stderr, "zonetally watch: %s\n", zt_strerror(r));
		return EXIT_FAILURE;
	}
	return 0;
}

/*
 * The feed carries the current day, month, year and all-time blocks only (feed.c): a past
 * period would never change, so it is refused with what to use instead.
 */
static int
watch_period(struct cli *c, struct wctx *x)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	struct zt_period now = zt_period_day_of((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	x->period_set = c->period_set;
	x->want = now;
	if (!c->period_set)
		return 0;
	x->want = c->period;
	if (c->period.gran == ZT_GRAN_ALL)
		return 0;
	uint32_t cur = c->period.gran == ZT_GRAN_YEAR ? now.bucket / 10000
	    : c->period.gran == ZT_GRAN_MONTH         ? now.bucket / 100
	                                              : now.bucket;
	if (c->period.bucket != cur) {
		char want[16];
		struct zt_period p = {.gran = c->period.gran, .bucket = cur};
		(void)zt_period_format(&p, want, sizeof(want));
		return usage_error(c->cmd,
		    "the feed follows the current period only (%s now, CST); "
		    "use `zonetally get` or `top` for a past one",
		    want);
	}
	return 0;
}

static int
watch_options(struct cli *c, int argc, char **argv, struct wctx *x, int *ret_hwm)
{
	static const struct option longopts[] = {PERIOD_LONGOPTS,
	    {"heartbeats", no_argument, NULL, 'H'}, {"rcvhwm", required_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0}};
	unsigned long v;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_JSON)
			c->json = true;
		else if (opt >= OPT_DAY && opt <= OPT_ALL) {
			if ((r = period_option(c, opt, optarg)) != 0)
				return r;
		} else if (opt == 'H')
			x->heartbeats = true;
		else if (opt == 'R' && parse_uint(optarg, 1000000000, &v) == 0)
			*ret_hwm = (int)v;
		else
			return option_error(c, opt, argv);
	}
	for (int i = optind; i < argc; i++) {
		size_t len = strlen(argv[i]);
		if (len == 0 || len > 6 || strspn(argv[i], "0123456789") != len)
			return usage_error(c->cmd, "CODE must be 1 to 6 digits, not '%s'", argv[i]);
	}
	return watch_period(c, x);
}

int
cmd_watch(struct cli *c, int argc, char **argv)
{
	struct wctx x = {.c = c, .state = -1};
	struct zt_watch *w = NULL;
	const char *eps[ZT_CLI_MAX_CONNECT];
	int hwm = 0, r;

	if ((r = watch_options(c, argc, argv, &x, &hwm)) != 0)
		return r;
	size_t n = 0;
	if ((r = query_endpoints(c, eps, &n)) != 0)
		return r;
	struct zt_watch_opts o = {.endpoints = eps,
	    .n_endpoints = n,
	    .prefixes = (const char *const *)(argv + optind),
	    .n_prefixes = (size_t)(argc - optind),
	    .rcvhwm = hwm,
	    .curve = c->curve};
	/* each daemon asked first, so that a refused handshake or a timeout is said with the
	 * query handle's own text; the first one's registry names the table's zones */
	for (size_t i = 0; i < n; i++) {
		struct zt_query *q = NULL;
		r = zt_query_new_curve(eps[i], 0, c->curve, &q);
		if (r == 0)
			r = i == 0 ? zt_query_zones(q, &x.zones, &x.n_zones)
			           : zt_query_stats(q, &(struct zt_counters){0}, &(uint64_t){0},
			                 &(uint64_t){0});
		if (r < 0) {
			(void)fprintf(stderr, "zonetally watch: cannot follow %s: %s\n", eps[i],
			    q != NULL && (r == -ECONNREFUSED || r == -ETIMEDOUT || r == ZT_E_REMOTE)
			        ? zt_query_error(q)
			        : zt_strerror(r));
			zt_query_free(q);
			free(x.zones);
			return EXIT_FAILURE;
		}
		zt_query_free(q);
	}
	if ((r = zt_watch_new(&o, &w)) < 0) {
		(void)fprintf(
		    stderr, "zonetally watch: cannot follow %s: %s\n", eps[0], zt_strerror(r));
		free(x.zones);
		return EXIT_FAILURE;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGWINCH, &sa, NULL);
	r = watch_loop(w, &x);
	free(x.zones);
	zt_watch_free(w);
	return r;
}
