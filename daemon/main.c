/*
 * main.c: zonetallyd's start-up and shutdown, read as a table of contents: parse the
 * command line, load the configuration, detach, lock the state dir, open the store, load
 * the registry, bind the sockets, write the endpoints file, run the loop, drain, exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "daemon.h"

/* Command-line values; they override the configuration file. */
struct cli {
	const char *config;
	const char *state_dir;
	const char *zones;
	const char *log_level;
	const char *sub_bind[ZT_CONFIG_MAX_ENDPOINTS];
	size_t n_sub_bind;
	const char *sub_connect[ZT_CONFIG_MAX_ENDPOINTS];
	size_t n_sub_connect;
	int foreground;
	const char *metrics_listen;
	const char *router_bind;
	const char *feed_bind;
	const char *query_bind;
};

static void __attribute__((noreturn)) usage(void)
{
	(void)fprintf(stderr,
	    "usage: zonetallyd [-c CONFIG] [--state-dir DIR] [--zones FILE] [--sub-bind EP]...\n"
	    "                  [--sub-connect EP]... [--log-level error|warning|info|debug]\n"
	    "                  [--foreground] [--metrics-listen ADDR:PORT|off] [--router-bind EP]\n"
	    "                  [--feed-bind EP] [--query-bind EP] [--help] [--version]\n");
	exit(2);
}

/* --help: every option with its default and an example, on stdout (zonetallyd(8)). */
static void __attribute__((noreturn)) help(void)
{
	(void)printf(
	    "usage: zonetallyd [OPTION]...\n"
	    "The zonetally daemon: ingests trade events, keeps the totals, serves them.\n"
	    "Each option overrides the configuration file's key of the same meaning.\n"
	    "  -c, --config FILE        configuration (default: " ZT_CONFIG_DEFAULT_PATH " if it\n"
	    "                           exists; -c /dev/null: built-in defaults only)\n"
	    "  --state-dir DIR          the store and state files (default: /var/lib/zonetally)\n"
	    "  --zones FILE             the zone registry (default: "
	    "/usr/share/zonetally/zones.csv)\n"
	    "  --sub-bind EP            SUB socket to bind, repeatable (default: "
	    "tcp://127.0.0.1:7601)\n"
	    "  --sub-connect EP         SUB socket to connect to a publisher, repeatable\n"
	    "                           (default: none)\n"
	    "  --router-bind EP         the acknowledged path (default: tcp://127.0.0.1:7602)\n"
	    "  --feed-bind EP           the live feed (default: tcp://127.0.0.1:7603)\n"
	    "  --query-bind EP          the query socket (default: tcp://127.0.0.1:7604)\n"
	    "  --metrics-listen ADDR:PORT|off  /metrics, the dashboard and /api/\n"
	    "                           (default: 127.0.0.1:9464)\n"
	    "  --log-level LEVEL        error, warning, info or debug (default: info)\n"
	    "  -f, --foreground         stay in the foreground, log to stderr (systemd runs it\n"
	    "                           so); without it the daemon detaches once ready\n"
	    "  -h, --help               this text\n"
	    "  --version                the version\n"
	    "example: zonetallyd --foreground -c /dev/null --state-dir ./state "
	    "--zones data/zones.csv\n");
	exit(EXIT_SUCCESS);
}

static void
add_endpoint(const char **list, size_t *n, const char *ep)
{
	if (*n == ZT_CONFIG_MAX_ENDPOINTS) {
		(void)fprintf(stderr, "zonetallyd: at most %d endpoints of a kind\n",
		    ZT_CONFIG_MAX_ENDPOINTS);
		exit(2);
	}
	list[(*n)++] = ep;
}

static void
parse_args(int argc, char **argv, struct cli *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"zones", required_argument, NULL, 'z'},
	    {"sub-bind", required_argument, NULL, 'b'},
	    {"sub-connect", required_argument, NULL, 'C'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"metrics-listen", required_argument, NULL, 'M'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"router-bind", required_argument, NULL, 'R'},
	    {"feed-bind", required_argument, NULL, 'F'},
	    {"query-bind", required_argument, NULL, 'Q'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:dfh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->config = optarg;
			break;
		case 's':
			a->state_dir = optarg;
			break;
		case 'z':
			a->zones = optarg;
			break;
		case 'b':
			add_endpoint(a->sub_bind, &a->n_sub_bind, optarg);
			break;
		case 'C':
			add_endpoint(a->sub_connect, &a->n_sub_connect, optarg);
			break;
		case 'l':
			a->log_level = optarg;
			break;
		case 'M':
			a->metrics_listen = optarg;
			break;
		case 'R':
			a->router_bind = optarg;
			break;
		case 'd':
		case 'f':
			a->foreground = 1;
			break;
		case 'F':
			a->feed_bind = optarg;
			break;
		case 'Q':
			a->query_bind = optarg;
			break;
		case 'h':
			help();
		case 'V':
			(void)puts("zonetallyd " ZT_VERSION);
			exit(EXIT_SUCCESS);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

static int
set_list(char **list, size_t *n, const char *const *src, size_t n_src)
{
	for (size_t i = 0; i < *n; i++) {
		free(list[i]);
		list[i] = NULL;
	}
	*n = 0;
	for (size_t i = 0; i < n_src; i++) {
		if (zt_config_set_string(&list[i], src[i]) < 0)
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

static int
level_of(const char *name)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};

	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* Applies the command line over the file's values. */
static void
apply_cli(struct zt_config *c, const struct cli *a)
{
	int r = 0;

	if (a->state_dir != NULL)
		r |= zt_config_set_string(&c->state_dir, a->state_dir);
	if (a->zones != NULL)
		r |= zt_config_set_string(&c->zones_file, a->zones);
	if (a->router_bind != NULL)
		r |= zt_config_set_string(&c->router_bind, a->router_bind);
	if (a->n_sub_bind > 0)
		r |= set_list(c->sub_bind, &c->n_sub_bind, a->sub_bind, a->n_sub_bind);
	if (a->metrics_listen != NULL)
		r |= zt_config_set_string(&c->metrics_listen, a->metrics_listen);
	if (a->n_sub_connect > 0)
		r |= set_list(c->sub_connect, &c->n_sub_connect, a->sub_connect, a->n_sub_connect);
	if (a->feed_bind != NULL)
		r |= zt_config_set_string(&c->feed_bind, a->feed_bind);
	if (a->query_bind != NULL)
		r |= zt_config_set_string(&c->query_bind, a->query_bind);
	if (r != 0)
		fatalx("out of memory");
	if (a->log_level != NULL) {
		c->log_level = level_of(a->log_level);
		if (c->log_level < 0) {
			(void)fprintf(stderr,
			    "zonetallyd: --log-level: '%s' is not error, warning, info or debug\n",
			    a->log_level);
			exit(2);
		}
	}
}

/* A malloc'd absolute form of path (cwd prepended when relative); fatal on failure. */
static char *
absolute_path(const char *path)
{
	char cwd[4096], buf[8200];

	if (path[0] == '/')
		(void)snprintf(buf, sizeof(buf), "%s", path);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		fatal("getcwd");
	else
		(void)snprintf(buf, sizeof(buf), "%s/%s", cwd, path);
	char *copy = strdup(buf);
	if (copy == NULL)
		fatalx("out of memory");
	return copy;
}

/* The command line, kept for SIGHUP: the file is re-read, the command line still wins. */
static struct cli reload_args;

/*
 * What SIGHUP re-reads: defaults, the same file as at start, the command line, validated.
 * @return 0, or a negative errno with err set (ret is then untouched).
 */
static int
load_for_reload(struct zt_config *ret, char *err, size_t errlen)
{
	const char *path = reload_args.config;
	struct zt_config c;
	int r;

	if ((r = zt_config_init(&c)) < 0) {
		(void)snprintf(err, errlen, "out of memory");
		return r;
	}
	if (path == NULL && access(ZT_CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = ZT_CONFIG_DEFAULT_PATH;
	if (path != NULL && (r = zt_config_load(&c, path, err, errlen)) < 0) {
		zt_config_done(&c);
		return r;
	}
	apply_cli(&c, &reload_args);
	if ((r = zt_config_validate(&c, err, errlen)) < 0) {
		zt_config_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

/* Defaults, then the file (the default path only if it exists), then the command line. */
static void
load_config(struct zt_config *c, const struct cli *a)
{
	char err[ZT_CONFIG_ERR_LEN];
	const char *path = a->config;

	if (zt_config_init(c) < 0)
		fatalx("out of memory");
	if (path == NULL && access(ZT_CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = ZT_CONFIG_DEFAULT_PATH;
	if (path != NULL && zt_config_load(c, path, err, sizeof(err)) < 0)
		fatalx("%s", err);
	apply_cli(c, a);
	if (zt_config_validate(c, err, sizeof(err)) < 0)
		fatalx("%s: %s", path != NULL ? path : "configuration", err);
}

/* mkdir -p, for the state directory and its store/. */
static int
make_dirs(const char *path)
{
	char buf[4096];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0750) < 0 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (saved == '\0')
			return 0;
	}
}

/* Whether r says the disk is full: the daemon still starts then, to serve reads. */
static bool
disk_full(int r)
{
	return r == -ENOSPC || r == -EDQUOT;
}

/*
 * Makes this process the state directory's only daemon: a second one on the same store
 * would ingest into it beside the first and overwrite, then remove, the first's files.
 */
static void
lock_state_dir(const struct zt_config *c)
{
	long holder = 0;
	int r = make_dirs(c->state_dir);

	if (r < 0)
		fatalx("cannot create '%s': %s", c->state_dir, strerror(-r));
	r = state_lock(c->state_dir, &holder);
	if (r == -EAGAIN && holder > 0)
		fatalx("another zonetallyd (pid %ld) holds '%s'; refusing to start a second daemon "
		       "on it",
		    holder, c->state_dir);
	if (r == -EAGAIN)
		fatalx("another zonetallyd holds '%s'; refusing to start a second daemon on it",
		    c->state_dir);
	if (r < 0)
		fatalx("cannot lock %s/%s: %s", c->state_dir, ZT_LOCK_FILE, strerror(-r));
}

/* Opens (creating) <state_dir>/store and puts the registry in it when one is configured. */
static struct zt_store *
open_store(struct zt_config *c)
{
	char dir[4096];
	struct zt_store *s = NULL;
	int r;

	if (snprintf(dir, sizeof(dir), "%s/store", c->state_dir) >= (int)sizeof(dir))
		fatalx("state_dir '%s': path too long", c->state_dir);
	if ((r = make_dirs(dir)) < 0)
		fatalx("cannot create '%s': %s", dir, strerror(-r));
	/* Absolute, so that the endpoints file is found again after a detach's chdir("/"). */
	if (c->state_dir[0] != '/') {
		char cwd[4096], abs[4096];
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			fatal("getcwd");
		if (snprintf(abs, sizeof(abs), "%s/%s", cwd, c->state_dir) >= (int)sizeof(abs))
			fatalx("state_dir '%s': path too long", c->state_dir);
		if (zt_config_set_string(&c->state_dir, abs) < 0)
			fatalx("out of memory");
	}
	r = zt_store_open(dir, 0, (size_t)c->map_size_mb << 20, &s);
	if (r == ZT_E_SCHEMA)
		fatalx("the store in '%s' has another schema version than this zonetallyd's (%d); "
		       "refusing to start rather than misread it: run the release that wrote it",
		    dir, ZT_SCHEMA_VERSION);
	if (r < 0)
		fatalx("cannot open the store in '%s': %s", dir, zt_strerror(r));
	if (c->zones_file[0] != '\0') {
		struct zt_zone *zones = NULL;
		size_t line = 0;
		r = zt_registry_load_file(c->zones_file, &zones, &line);
		if (r == ZT_E_CSV)
			fatalx("%s:%zu: malformed zone registry", c->zones_file, line);
		if (r < 0)
			fatalx("zone registry '%s': %s", c->zones_file, zt_strerror(r));
		int w = zt_store_put_zones(s, zones, (size_t)r);
		free(zones);
		const struct zt_zone *stored;
		if (w < 0 && disk_full(w) && zt_store_zones(s, &stored) > 0)
			log_warnx("cannot store the zone registry of '%s': %s; going on with the "
			          "registry stored before (a restart with free space stores it)",
			    c->zones_file, zt_strerror(w));
		else if (w < 0)
			fatalx("cannot store the zone registry: %s", zt_strerror(w));
	}
	return s;
}

/* Copies the registry out of the store for the main thread (the writer owns the store). */
static void
copy_registry(struct zt_store *s, struct decode_opts *o)
{
	const struct zt_zone *zones;
	size_t n = zt_store_zones(s, &zones);

	if (n == 0)
		fatalx("the store has no zone registry; set zones_file or pass --zones");
	struct zt_zone *copy = calloc(n, sizeof(*copy));
	if (copy == NULL)
		fatalx("out of memory");
	memcpy(copy, zones, n * sizeof(*copy));
	o->zones = copy;
	o->n_zones = n;
}

/*
 * Detaches like OpenBSD daemons, but the parent waits until the child reports that start-up
 * succeeded, so start-up errors still reach the terminal and the exit status tells.
 * Returns the write end of the readiness pipe in the child.
 */
static int
detach(void)
{
	int p[2];
	char ok;

	if (pipe(p) < 0)
		fatal("pipe");
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork");
	if (pid > 0) {
		int status = 1;
		(void)close(p[1]);
		if (read(p[0], &ok, 1) == 1)
			_exit(0);
		(void)waitpid(pid, &status, 0);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
	}
	(void)close(p[0]);
	(void)fcntl(p[1], F_SETFD, FD_CLOEXEC);
	if (setsid() < 0)
		fatal("setsid");
	return p[1];
}

/*
 * Tells the waiting parent that start-up succeeded and lets go of the terminal; the log
 * goes to syslog from here on, or rejections and failed commits would vanish.
 */
static void
detach_done(int ready_fd)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (chdir("/") < 0 || fd < 0)
		fatal("detach");
	log_syslog();
	(void)!write(ready_fd, "", 1);
	(void)close(ready_fd);
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	(void)dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		(void)close(fd);
}

/*
 * A state file that cannot be written at start: fatal, unless the disk is full. Then the
 * daemon starts without it, serving reads, its commits retried (nothing acknowledged) until
 * space is freed: refusing to start would take the reads away too.
 */
static void
state_file_failed(const char *state_dir, const char *name, int r)
{
	if (!disk_full(r))
		fatalx("cannot write %s/%s: %s", state_dir, name, strerror(-r));
	log_warnx("cannot write %s/%s: %s; starting without it (until a restart with free "
	          "space)",
	    state_dir, name, strerror(-r));
}

/* Creates the ZeroMQ context, the writer thread, the SUB socket and the batch buffers. */
static void
start(struct daemon *d, struct zt_store *s, void **zctx)
{
	const struct zt_config *c = d->conf;
	char err[512];
	int r;

	if ((*zctx = zmq_ctx_new()) == NULL)
		fatal("zmq_ctx_new");
	/* before any socket binds: without a ZAP handler libzmq admits every CURVE key */
	if (security_start(*zctx, c, reload_args.config, err, sizeof(err)) < 0)
		fatalx("%s", err);
	/* before the writer owns the store: the marks acknowledged before the last stop */
	if ((r = acktrack_init(&d->ack, c->router_window)) < 0 ||
	    (r = acktrack_load(&d->ack, s)) < 0)
		fatalx("cannot load the publishers' acknowledged sequences: %s", zt_strerror(r));
	acktrack_keep(&d->ack, batch_cap(c));
	struct zt_counters ctr;
	if ((r = zt_store_counters(s, &ctr)) < 0)
		fatalx("cannot read the store's counters: %s", zt_strerror(r));
	if (feed_open(&d->feed, *zctx, c, &d->dopts, ctr.feed_seq, err, sizeof(err)) < 0 ||
	    query_open(&d->query, *zctx, c, s, &d->feed, err, sizeof(err)) < 0)
		fatalx("%s", err);
	/* before the writer owns the store: the HTTP threads' read-only handle on it */
	if (web_new(c, s, &d->feed, reload_args.config, &d->web, err, sizeof(err)) < 0)
		fatalx("%s", err);
	d->feed.sse = web_sse(d->web);
	if ((r = writer_start(&d->w, *zctx, s, c)) < 0)
		fatalx("cannot start the writer: %s", strerror(-r));
	if (ingest_open(&d->in, *zctx, c, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (router_open(&d->rt, *zctx, c, err, sizeof(err)) < 0)
		fatalx("%s", err);
	(void)snprintf(d->in.ingest_ep, sizeof(d->in.ingest_ep), "%s", d->rt.bound);
	if ((r = loop_signals(d)) < 0)
		fatalx("signals: %s", strerror(-r));
	for (int i = 0; i < 2; i++)
		if (batch_init(&d->bufs[i], batch_cap(c)) < 0)
			fatalx("out of memory for the batch buffers");
	if (metrics_new(c, d->web, &d->metrics, err, sizeof(err)) < 0)
		fatalx("%s", err);
	/* issue 14: from here on the query socket is the query thread's, not the loop's */
	if ((r = query_start(&d->query)) < 0)
		fatalx("cannot start the query thread: %s", strerror(-r));
	d->in.metrics_bound = metrics_bound(d->metrics);
	char extra[2 * ZT_ENDPOINT_MAX + 32] = "";
	if (d->feed.pub != NULL || d->query.router != NULL)
		(void)snprintf(extra, sizeof(extra), "%s%s%s%s%s%s", d->feed.pub ? "feed " : "",
		    d->feed.pub ? d->feed.bound : "", d->feed.pub ? "\n" : "",
		    d->query.router ? "query " : "", d->query.router ? d->query.bound : "",
		    d->query.router ? "\n" : "");
	if ((r = ingest_write_endpoints(&d->in, c->state_dir, extra)) < 0)
		state_file_failed(c->state_dir, ZT_ENDPOINTS_FILE, r);
	if ((r = reload_files_write(d)) < 0)
		state_file_failed(c->state_dir, ZT_PID_FILE, r);
}

int
main(int argc, char **argv)
{
	struct cli args = {0};
	struct zt_config conf;
	struct daemon d = {.conf = &conf};
	void *zctx = NULL;
	int ready_fd = -1;

	parse_args(argc, argv, &args);
	log_init("zonetallyd", ZT_LOG_INFO);
	load_config(&conf, &args);
	log_setlevel(conf.log_level);
	if (!args.foreground)
		ready_fd = detach();
	lock_state_dir(&conf); /* after detach: a lock does not pass to a forked child */
	struct zt_store *store = open_store(&conf);
	copy_registry(store, &d.dopts);
	d.dopts.max_message_bytes = conf.max_message_bytes;
	d.dopts.max_value_fen = conf.max_value_fen;
	reload_args = args;
	/* The file is re-read after detach's chdir("/"): keep its absolute path. */
	if (args.config != NULL)
		reload_args.config = absolute_path(args.config);
	/* Absolute now, for a reload after detach's chdir("/"); a copy outlives reloads. */
	if (args.state_dir != NULL && (reload_args.state_dir = strdup(conf.state_dir)) == NULL)
		fatalx("out of memory");
	d.reload_load = load_for_reload;
	notify_init(&d.notify);
	start(&d, store, &zctx);
	if (ready_fd >= 0)
		detach_done(ready_fd);
	log_info("ready: %zu zones, state in '%s'", d.dopts.n_zones, conf.state_dir);
	/* After the detach, so that a detached daemon says it in syslog, not on the terminal. */
	log_info("feed: %zu topics; each watcher queues at most %u messages of at most %zu bytes",
	    d.feed.n_topics, d.feed.sndhwm, feed_msg_max(d.feed.n_topics));
	notify_ready(&d.notify, "ready; ingesting");

	int r = loop_run(&d);

	ingest_remove_endpoints(conf.state_dir);
	reload_files_remove(conf.state_dir);
	if (r < 0)
		fatalx("stopping on a store failure: %s", zt_strerror(r));
	query_stop(&d.query); /* before the writer's store and the feed go */
	writer_stop(&d.w);
	web_stop(d.web); /* open event streams end, so the HTTP server can join their threads */
	d.metrics = metrics_free(d.metrics);
	d.web = web_free(d.web);
	ingest_close(&d.in);
	router_close(&d.rt);
	acktrack_done(&d.ack);
	query_close(&d.query);
	feed_close(&d.feed);
	(void)zmq_ctx_term(zctx);
	security_stop();
	for (int i = 0; i < 2; i++)
		batch_done(&d.bufs[i]);
	free((void *)(uintptr_t)d.dopts.zones);
	zt_store_free(store);
	log_info("stopped: %llu messages committed in %llu commits", (unsigned long long)d.received,
	    (unsigned long long)d.commits);
	zt_config_done(&conf);
	free((void *)(uintptr_t)reload_args.state_dir);
	free((void *)(uintptr_t)reload_args.config);
	return 0;
}
