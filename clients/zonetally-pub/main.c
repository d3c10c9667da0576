/*
 * main.c: `zonetally-pub`, the publisher tool: strict options, the two inputs (an NDJSON file
 * checked whole before anything is sent, or the synthetic generator), and the report.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <zmq.h>

#include "pub.h"

#define EXIT_USAGE          2
#define DEFAULT_EP          "tcp://127.0.0.1:7601"
#define DEFAULT_RELIABLE_EP "tcp://127.0.0.1:7602"
#define DEFAULT_ZONES       ZT_DATADIR "/zones.csv"
#define INPUT_MAX_BYTES     (1ull << 34) /* 16 GiB: refuse absurd inputs before reading them */

static const char usage_text[] =
    "usage: zonetally-pub [--endpoint EP]... (--generate N [--seed S] [--day YYYY-MM-DD]\n"
    "           [--dup-ratio R] [--kind-mix R] [--random-ids] [--zones FILE]\n"
    "           [--preencode] | --file PATH|-)\n"
    "           [--rate EV_PER_S] [--publisher ID] [--start-seq N]\n"
    "           [--wait-subscribers N] [--timeout S]\n"
    "           [--reliable [--window N] [--spool DIR]]\n"
    "           [--curve-server-key FILE|Z85 --curve-key FILE] [--stats-json]\n"
    "'zonetally-pub --help': every option with its default; --version: the version\n";

/* --help: every option, its default, examples (the reference of zonetally-pub(1)). */
static const char help_text[] =
    "Sends NDJSON or generated events to zonetallyd.\n"
    "input (exactly one):\n"
    "  --file PATH|-            NDJSON, one event per line ('-': stdin); checked whole first\n"
    "  --generate N             N synthetic events (resends included)\n"
    "  --seed S                 generator seed (default: 1)\n"
    "  --day YYYY-MM-DD         the CST day of the events (default: yesterday, CST; for\n"
    "                           today they stop at the current time)\n"
    "  --dup-ratio R            fraction of resends, 0..1 (default: 0)\n"
    "  --kind-mix R             fraction of reversals, 0..1 (default: 0)\n"
    "  --random-ids             random event ids instead of time-ordered ones\n"
    "  --zones FILE             the zone registry (default: " DEFAULT_ZONES ",\n"
    "                           else the source tree's data/zones.csv)\n"
    "  --preencode              encode everything before the clock starts (benchmarks)\n"
    "transport:\n"
    "  --endpoint EP            the daemon's SUB endpoint, repeatable (default: " DEFAULT_EP ";\n"
    "                           with --reliable, its ROUTER: " DEFAULT_RELIABLE_EP ")\n"
    "  --rate EV_PER_S          pace to this rate (default: 0, as fast as possible)\n"
    "  --publisher ID           publisher_id of events that name none (default: zonetally-pub)\n"
    "  --start-seq N            first sequence of events that name none (default: 1)\n"
    "  --wait-subscribers N     subscriptions to wait for before sending (default: 1)\n"
    "  --timeout S              give up after S seconds, 0..86400 (default: 30)\n"
    "  --reliable               the acknowledged path: exit 0 only when all is acknowledged\n"
    "  --window N               with --reliable: unacknowledged events at most (default: 10000)\n"
    "  --spool DIR              with --reliable: keep unacknowledged events in DIR (created;\n"
    "                           its parent must exist) so that a killed run resumes\n"
    "  --curve-server-key FILE|Z85  the daemon's public key (a file if one exists by that name)\n"
    "  --curve-key FILE         this publisher's NAME.key (mode 0600)\n"
    "  --stats-json             one JSON line of figures on stderr at the end\n"
    "exit status: 0 sent (and acknowledged), 1 runtime error, 2 usage or input error\n"
    "examples:\n"
    "  zonetally-pub --file events.ndjson --endpoint tcp://127.0.0.1:7601\n"
    "  zonetally-pub --generate 100000 --reliable --spool /var/tmp/zt-spool\n";

enum {
	OPT_ENDPOINT = 0x100,
	OPT_GENERATE,
	OPT_SEED,
	OPT_DAY,
	OPT_DUP,
	OPT_KIND,
	OPT_RANDOM_IDS,
	OPT_FILE,
	OPT_RATE,
	OPT_PUBLISHER,
	OPT_START_SEQ,
	OPT_WAIT,
	OPT_TIMEOUT,
	OPT_ZONES,
	OPT_RELIABLE,
	OPT_WINDOW,
	OPT_SPOOL,
	OPT_CURVE_SERVER_KEY,
	OPT_CURVE_KEY,
	OPT_PREENCODE,
	OPT_STATS_JSON,
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage(const char *fmt, ...)
{
	va_list ap;

	(void)fputs("zonetally-pub: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fprintf(stderr, "\n%s", usage_text);
	return EXIT_USAGE;
}

/* Strict unsigned decimal in [0, max]. */
static int
parse_u64(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Strict finite number in [0, max]. */
static int
parse_double(const char *s, double max, double *ret)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int
parse_day(const char *s, uint32_t *ret)
{
	struct zt_period p;

	if (zt_period_parse(ZT_GRAN_DAY, s, &p) < 0)
		return -EINVAL;
	*ret = p.bucket;
	return 0;
}

/* Options of the generator input. Returns 0, 1 if opt is not one of them, or EXIT_USAGE. */
static int
gen_option(struct pub_opts *o, int opt, const char *arg, const char **zones)
{
	unsigned long long v;

	switch (opt) {
	case OPT_GENERATE:
		if (parse_u64(arg, UINT64_MAX, &v) < 0 || v == 0)
			return usage("--generate: expected a count from 1, not '%s'", arg);
		o->generate = true;
		o->gen.count = v;
		return 0;
	case OPT_SEED:
		if (parse_u64(arg, UINT64_MAX, &v) < 0)
			return usage("--seed: expected an unsigned integer, not '%s'", arg);
		o->gen.seed = v;
		return 0;
	case OPT_DAY:
		return parse_day(arg, &o->gen.day) < 0 ? usage("--day: invalid date '%s'", arg) : 0;
	case OPT_DUP:
		return parse_double(arg, 1, &o->gen.dup_ratio) < 0
		    ? usage("--dup-ratio: expected 0..1, not '%s'", arg)
		    : 0;
	case OPT_KIND:
		return parse_double(arg, 1, &o->gen.kind_mix) < 0
		    ? usage("--kind-mix: expected 0..1, not '%s'", arg)
		    : 0;
	case OPT_RANDOM_IDS:
		o->gen.random_ids = true;
		return 0;
	case OPT_ZONES:
		*zones = arg;
		return 0;
	case OPT_PREENCODE:
		o->preencode = true;
		return 0;
	default:
		return 1;
	}
}

/* Options of the transport. Returns 0 or EXIT_USAGE. */
static int
send_option(struct pub_opts *o, int opt, const char *arg)
{
	unsigned long long v;

	switch (opt) {
	case OPT_ENDPOINT:
		if (o->n_endpoints == PUB_MAX_ENDPOINTS)
			return usage("at most %d endpoints", PUB_MAX_ENDPOINTS);
		o->endpoints[o->n_endpoints++] = arg;
		return 0;
	case OPT_FILE:
		o->file = arg;
		return 0;
	case OPT_RATE:
		return parse_double(arg, 1e9, &o->rate) < 0
		    ? usage("--rate: expected events per second >= 0, not '%s'", arg)
		    : 0;
	case OPT_PUBLISHER:
		if (arg[0] == '\0' || strlen(arg) > ZT_WIRE_STR_MAX)
			return usage("--publisher: expected 1..%d characters", ZT_WIRE_STR_MAX);
		o->publisher = arg;
		return 0;
	case OPT_START_SEQ:
		if (parse_u64(arg, UINT64_MAX, &v) < 0)
			return usage("--start-seq: expected an unsigned integer, not '%s'", arg);
		o->start_seq = v;
		return 0;
	case OPT_WAIT:
		if (parse_u64(arg, 1000000, &v) < 0)
			return usage("--wait-subscribers: expected a count, not '%s'", arg);
		o->wait_subscribers = (unsigned long)v;
		return 0;
	case OPT_TIMEOUT:
		if (parse_u64(arg, 86400, &v) < 0)
			return usage("--timeout: expected seconds (0..86400), not '%s'", arg);
		o->timeout_s = (unsigned long)v;
		return 0;
	case OPT_RELIABLE:
		o->reliable = true;
		return 0;
	case OPT_WINDOW:
		if (parse_u64(arg, 1000000, &v) < 0 || v == 0)
			return usage("--window: expected 1..1000000 events, not '%s'", arg);
		o->window = (uint32_t)v;
		return 0;
	case OPT_SPOOL:
		o->spool = arg;
		return 0;
	case OPT_CURVE_SERVER_KEY:
		o->curve_server_key = arg;
		return 0;
	case OPT_CURVE_KEY:
		o->curve_key = arg;
		return 0;
	case OPT_STATS_JSON:
		o->stats_json = true;
		return 0;
	default:
		return usage("invalid option");
	}
}

static const struct option longopts[] = {
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"generate", required_argument, NULL, OPT_GENERATE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"day", required_argument, NULL, OPT_DAY},
    {"dup-ratio", required_argument, NULL, OPT_DUP},
    {"kind-mix", required_argument, NULL, OPT_KIND},
    {"random-ids", no_argument, NULL, OPT_RANDOM_IDS},
    {"zones", required_argument, NULL, OPT_ZONES},
    {"file", required_argument, NULL, OPT_FILE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"publisher", required_argument, NULL, OPT_PUBLISHER},
    {"start-seq", required_argument, NULL, OPT_START_SEQ},
    {"wait-subscribers", required_argument, NULL, OPT_WAIT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"reliable", no_argument, NULL, OPT_RELIABLE},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"spool", required_argument, NULL, OPT_SPOOL},
    {"curve-server-key", required_argument, NULL, OPT_CURVE_SERVER_KEY},
    {"curve-key", required_argument, NULL, OPT_CURVE_KEY},
    {"preencode", no_argument, NULL, OPT_PREENCODE},
    {"stats-json", no_argument, NULL, OPT_STATS_JSON},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* The CST day before now: a whole generated day then lies in the past. */
static uint32_t
yesterday(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return zt_cst_day((int64_t)ts.tv_sec * 1000 - 86400000);
}

static int
parse_options(int argc, char **argv, struct pub_opts *o, const char **zones)
{
	int opt, r;

	*o = (struct pub_opts){.publisher = "zonetally-pub",
	    .start_seq = 1,
	    .wait_subscribers = 1,
	    .timeout_s = 30,
	    .gen = {.seed = 1, .day = yesterday()}};
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			(void)fputs(usage_text, stdout);
			(void)fputs(help_text, stdout);
			exit(EXIT_SUCCESS);
		}
		if (opt == 'V') {
			(void)puts("zonetally-pub " ZT_VERSION);
			exit(EXIT_SUCCESS);
		}
		if ((r = gen_option(o, opt, optarg, zones)) == 1)
			r = send_option(o, opt, optarg);
		if (r != 0)
			return r;
	}
	if (optind != argc)
		return usage("unexpected operand '%s'", argv[optind]);
	if (o->generate == (o->file != NULL))
		return usage("exactly one input: --generate N or --file PATH");
	if ((o->window != 0 || o->spool != NULL) && !o->reliable)
		return usage("--window and --spool need --reliable");
	if (o->preencode && !o->generate)
		return usage("--preencode goes with --generate");
	if (o->reliable && o->n_endpoints > 1)
		return usage("--reliable sends to one daemon: give one --endpoint");
	if ((o->curve_server_key == NULL) != (o->curve_key == NULL))
		return usage("--curve-server-key and --curve-key go together");
	if (o->n_endpoints == 0)
		o->endpoints[o->n_endpoints++] = o->reliable ? DEFAULT_RELIABLE_EP : DEFAULT_EP;
	o->gen.publisher = o->publisher;
	o->gen.start_seq = o->start_seq;
	struct timespec ts;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	o->gen.until_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return 0;
}

/* Reads a whole file ("-": stdin) into memory. Returns 0 or a negative errno. */
static int
read_all(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	size_t cap = 0, len = 0;
	char *buf = NULL, *nb;
	int r = 0;

	if (f == NULL)
		return -errno;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > INPUT_MAX_BYTES || (nb = realloc(buf, cap)) == NULL) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0) {
			r = ferror(f) ? -EIO : 0;
			break;
		}
	}
	if (f != stdin)
		(void)fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Calls fn for every event line; stops at the first error, reported as FILE:LINE. */
static int
each_line(const char *name, const char *buf, size_t len, int (*fn)(struct zt_wire *w, void *arg),
    void *arg)
{
	char err[256];
	size_t lineno = 0;

	for (const char *p = buf, *end = buf + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		struct zt_wire w;
		lineno++;
		int r = zt_ndjson_parse(p, n, &w, err, sizeof(err));
		if (r == -EINVAL) {
			(void)fprintf(stderr, "%s:%zu: %s\n", name, lineno, err);
			return EXIT_USAGE;
		}
		if (r < 0) {
			(void)fprintf(stderr, "%s:%zu: %s\n", name, lineno, strerror(-r));
			return EXIT_FAILURE;
		}
		if (r == 1 && fn != NULL && (r = fn(&w, arg)) != 0)
			return r;
		p += n + 1;
	}
	return 0;
}

struct file_send {
	struct pub *p;
	const char *publisher;
	uint64_t next_seq;
};

static int
send_line(struct zt_wire *w, void *arg)
{
	struct file_send *fs = arg;
	uint8_t rnd[10] = {0};
	int r;

	if (!(w->has & (ZT_W_EVENT_ID | ZT_W_LIST_NO)) && getrandom(rnd, sizeof(rnd), 0) < 0) {
		(void)fprintf(stderr, "zonetally-pub: getrandom: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	/* before a sequence is taken: skipping it later would leave a hole the daemon's ack
	 * never passes */
	if (fs->p->rel != NULL && !rel_line_ok(fs->p, w, fs->publisher))
		return 0;
	zt_wire_complete(w, fs->publisher, &fs->next_seq, rnd);
	if ((r = pub_send(fs->p, w)) < 0) {
		(void)fprintf(stderr, "zonetally-pub: send: %s\n", zmq_strerror(-r));
		return EXIT_FAILURE;
	}
	return 0;
}

/* Opens the socket, waits for the subscribers. Returns 0 or an exit status. */
static int
start(struct pub *p, const struct pub_opts *o)
{
	int r = pub_open(p, o);

	if (r < 0 && p->err[0] != '\0') {
		(void)fprintf(stderr, "zonetally-pub: %s\n", p->err);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		(void)fprintf(stderr, "zonetally-pub: cannot connect: %s\n", zmq_strerror(-r));
		return EXIT_FAILURE;
	}
	r = pub_wait_subscribers(
	    p, o->wait_subscribers, mono_ns() + (int64_t)o->timeout_s * 1000000000);
	if (r == -ECONNREFUSED) {
		(void)fprintf(stderr, "zonetally-pub: %s: %s\n", o->endpoints[0], p->err);
		return EXIT_FAILURE;
	}
	if (r == -ETIMEDOUT) {
		(void)fprintf(stderr,
		    "zonetally-pub: timed out after %lu s waiting for %lu subscriber(s) on %s%s: "
		    "%lu subscribed; is zonetallyd running with [ingest] sub_bind there and a "
		    "subscribe prefix matching these events' topics (or lower --wait-subscribers)?\n",
		    o->timeout_s, o->wait_subscribers, o->endpoints[0],
		    o->n_endpoints > 1 ? " and the other --endpoint" : "", p->subscribers_seen);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		(void)fprintf(stderr, "zonetally-pub: %s while waiting for %lu subscriber(s)\n",
		    zmq_strerror(-r), o->wait_subscribers);
		return EXIT_FAILURE;
	}
	return 0;
}

static int
run_file(struct pub *p, const struct pub_opts *o)
{
	const char *name = strcmp(o->file, "-") == 0 ? "<stdin>" : o->file;
	struct file_send fs = {.p = p, .publisher = o->publisher, .next_seq = o->start_seq};
	char *buf = NULL;
	size_t len = 0;
	int r = read_all(o->file, &buf, &len);

	if (r < 0) {
		(void)fprintf(stderr, "zonetally-pub: %s: %s\n", name, strerror(-r));
		return EXIT_FAILURE;
	}
	/* the whole input is checked before the first message goes out */
	if ((r = each_line(name, buf, len, NULL, NULL)) == 0 && (r = start(p, o)) == 0)
		r = each_line(name, buf, len, send_line, &fs);
	free(buf);
	return r;
}

/* The registry: --zones, else the installed copy, else the source tree's. */
static int
load_zones(const char *path, struct zt_zone **ret)
{
	size_t line = 0;
	int n;

	if (path == NULL) {
		path = DEFAULT_ZONES;
		FILE *f = fopen(path, "re");
		if (f == NULL)
			path = ZT_SOURCE_ZONES;
		else
			(void)fclose(f);
	}
	if ((n = zt_registry_load_file(path, ret, &line)) < 0) {
		if (n == ZT_E_CSV)
			(void)fprintf(
			    stderr, "zonetally-pub: %s:%zu: malformed zone registry\n", path, line);
		else
			(void)fprintf(stderr, "zonetally-pub: %s: %s\n", path, zt_strerror(n));
	}
	return n;
}

/* Sends what g generates, one event at a time, or all encoded ahead into pre. */
static int
send_generated(struct pub *p, const struct pub_opts *o, struct zt_gen *g, struct pub_pre *pre)
{
	struct zt_wire w;
	int r = 0;

	if (o->preencode && (r = pre_encode(pre, g)) < 0) {
		(void)fprintf(stderr, "zonetally-pub: --preencode: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	if ((r = start(p, o)) != 0)
		return r;
	if (o->preencode)
		r = pre_send(p, pre);
	else
		while (r == 0 && zt_gen_next(g, &w, NULL) == 1)
			r = pub_send(p, &w);
	if (r < 0) {
		(void)fprintf(stderr, "zonetally-pub: send: %s\n", zmq_strerror(-r));
		return EXIT_FAILURE;
	}
	return 0;
}

/* pre: the --preencode buffer, which the caller frees after pub_close(). */
static int
run_generate(struct pub *p, const struct pub_opts *o, const char *zones_path, struct pub_pre *pre)
{
	struct zt_zone *zones = NULL;
	struct zt_gen *g = NULL;
	int n = load_zones(zones_path, &zones), r;

	if (n < 0)
		return EXIT_FAILURE;
	if ((r = zt_gen_new(&o->gen, zones, (size_t)n, &g)) < 0) {
		(void)fprintf(stderr, "zonetally-pub: generator: %s\n", zt_strerror(r));
		free(zones);
		return EXIT_FAILURE;
	}
	r = send_generated(p, o, g, pre);
	p->generated = true;
	p->gen_resends = zt_gen_resends(g);
	zt_gen_free(g);
	free(zones);
	return r;
}

/* The figures of a successful run: a human line, and with --stats-json one JSON line. */
static void
report(const struct pub *p, const struct pub_opts *o, int64_t t1)
{
	double s = (double)(t1 - p->start_ns) / 1e9, rate = s > 0 ? (double)p->sent / s : 0.0;
	char sent[ZT_YUAN_LEN], rate_s[ZT_YUAN_LEN], dups[ZT_YUAN_LEN], counted[ZT_YUAN_LEN];

	(void)zt_fmt_count((int64_t)p->sent, sent);
	(void)zt_fmt_count((int64_t)(rate + 0.5), rate_s);
	(void)fprintf(stderr, "sent %s events in %.3f s (%s ev/s)\n", sent, s, rate_s);
	if (p->generated) {
		/* --reliable skips the generator's resends (rel_send): none reach the daemon */
		uint64_t d = p->rel != NULL ? 0 : p->gen_resends;
		(void)zt_fmt_count((int64_t)d, dups);
		(void)zt_fmt_count((int64_t)(p->sent - d), counted);
		(void)fprintf(stderr,
		    "expected at the daemon: %s accepted, %s duplicates (the generator's "
		    "resends), 0 rejected, if its dedup window admits %04u-%02u-%02u\n",
		    counted, dups, o->gen.day / 10000, o->gen.day / 100 % 100, o->gen.day % 100);
	}
	if (!o->stats_json)
		return;
	(void)fprintf(stderr,
	    "{\"sent\": %llu, \"seconds\": %.6f, \"events_per_s\": %.0f, "
	    "\"event_bytes_mean\": %.1f, \"start_mono_ns\": %lld",
	    (unsigned long long)p->sent, s, rate,
	    p->sent > 0 ? (double)p->bytes / (double)p->sent : 0.0, (long long)p->start_ns);
	if (p->rel != NULL)
		rel_stats_json(p);
	(void)fputs("}\n", stderr);
}

int
main(int argc, char **argv)
{
	struct pub_opts o;
	const char *zones = NULL;
	struct pub_pre pre = {0};
	struct pub *p;
	int r;

	if ((r = parse_options(argc, argv, &o, &zones)) != 0)
		return r;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		(void)fprintf(stderr, "zonetally-pub: out of memory\n");
		return EXIT_FAILURE;
	}
	r = o.generate ? run_generate(p, &o, zones, &pre) : run_file(p, &o);
	if (r == 0)
		r = pub_finish(p);
	else if (p->rel != NULL)
		(void)rel_finish(p); /* says how many events were left unacknowledged */
	if (r == 0)
		report(p, &o, mono_ns());
	pub_close(p, o.timeout_s);
	pre_free(&pre); /* only now: the socket sent from it until closed */
	free(p);
	return r;
}
