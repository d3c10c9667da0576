/*
 * cmd_ops.c: the operator commands that talk to a running daemon or to its configuration:
 * `reload` (SIGHUP, then wait for the daemon's verdict, for systemd's ExecReload=) and
 * `check-config` (validate a file without starting anything).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "zt_config.h"

/* Kept in step with daemon/daemon.h: the CLI never includes daemon internals. */
#define PID_FILE    "zonetallyd.pid"
#define LOCK_FILE   "zonetallyd.lock"
#define RELOAD_FILE "zonetallyd.reload"

/* The daemon's last reload verdict: "PID GENERATION ok|failed TEXT". */
struct verdict {
	long pid;
	unsigned long gen;
	char status[16];
	char text[512];
};

/* Reads <state_dir>/NAME into buf (NUL-terminated). @return bytes read or -errno. */
static int
read_small(const char *state_dir, const char *name, char *buf, size_t len)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", state_dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	size_t n = fread(buf, 1, len - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	return (int)n;
}

/* @return 0 with v filled, or -ENOENT/-EINVAL when there is no (readable) verdict yet. */
static int
read_verdict(const char *state_dir, struct verdict *v)
{
	char buf[600];
	int n, r = read_small(state_dir, RELOAD_FILE, buf, sizeof(buf));

	if (r < 0)
		return r;
	memset(v, 0, sizeof(*v));
	if (sscanf(buf, "%ld %lu %15s %n", &v->pid, &v->gen, v->status, &n) != 3)
		return -EINVAL;
	(void)snprintf(v->text, sizeof(v->text), "%s", buf + n);
	v->text[strcspn(v->text, "\n")] = '\0';
	return 0;
}

static long
daemon_pid(const struct cli *c)
{
	char buf[32];
	char *end;

	if (read_small(c->state_dir, PID_FILE, buf, sizeof(buf)) <= 0)
		return -1;
	long pid = strtol(buf, &end, 10);
	return pid > 1 && (*end == '\n' || *end == '\0') ? pid : -1;
}

/*
 * The pid of the daemon that holds the state dir's lock (F_GETLK names the holder of a POSIX
 * lock), so that a pid file left by a crash is never trusted: after pid reuse it names an
 * unrelated process. @return the pid, 0 when no process holds the lock (no daemon), or -1
 * when one does but its pid cannot be seen from here (another pid namespace).
 */
static long
lock_holder(const struct cli *c)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", c->state_dir, LOCK_FILE) >= (int)sizeof(path))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int r = fcntl(fd, F_GETLK, &fl);
	(void)close(fd);
	if (r < 0 || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid > 0 ? (long)fl.l_pid : -1;
}

/*
 * The pid to signal: the lock holder, checked against --pid when given (systemd's $MAINPID,
 * trusted alone only when the holder is in another pid namespace). Says why on stderr and
 * @return -1 when no daemon holds the state dir or --pid names another process.
 */
static long
reload_target(const struct cli *c, long want)
{
	long holder = lock_holder(c), stale = daemon_pid(c);

	if (holder == 0 && stale > 0) {
		(void)fprintf(stderr,
		    "zonetally reload: no daemon holds '%s': '%s/%s' (pid %ld) is stale; "
		    "not signalling it\n",
		    c->state_dir, c->state_dir, PID_FILE, stale);
		return -1;
	}
	if (holder == 0) {
		(void)fprintf(stderr,
		    "zonetally reload: no daemon holds '%s' (nothing locks '%s/%s')\n",
		    c->state_dir, c->state_dir, LOCK_FILE);
		return -1;
	}
	if (holder > 0 && want > 0 && want != holder) {
		(void)fprintf(stderr,
		    "zonetally reload: pid %ld does not hold '%s' (zonetallyd pid %ld does); not "
		    "signalling it\n",
		    want, c->state_dir, holder);
		return -1;
	}
	if (holder < 0 && want < 0) { /* held from another pid namespace */
		(void)fprintf(stderr,
		    "zonetally reload: the zonetallyd that holds '%s' has no pid visible here; "
		    "pass --pid\n",
		    c->state_dir);
		return -1;
	}
	return want > 0 ? want : holder;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	(void)nanosleep(&ts, NULL);
}

/* Waits for a verdict newer than `before` from `pid`. @return 0 ok, 1 failed, 2 timeout. */
static int
wait_verdict(
    const struct cli *c, long pid, unsigned long before, long timeout_ms, struct verdict *v)
{
	for (long waited = 0; waited <= timeout_ms; waited += 20) {
		if (read_verdict(c->state_dir, v) == 0 && v->pid == pid && v->gen > before)
			return strcmp(v->status, "ok") == 0 ? 0 : 1;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			return 2;
		sleep_ms(20);
	}
	return 2;
}

/* The options of `reload`: --pid PID (systemd's $MAINPID), --timeout SECONDS. */
static int
reload_options(struct cli *c, int argc, char **argv, long *pid, long *timeout_ms)
{
	static const struct option opts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"timeout", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long v;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'p' && parse_uint(optarg, 4194304, &v) == 0 && v > 1)
			*pid = (long)v;
		else if (opt == 't' && parse_uint(optarg, 86400, &v) == 0 && v > 0)
			*timeout_ms = (long)v * 1000;
		else
			return option_error(c, opt, argv);
	}
	if (optind != argc)
		return usage_error(c->cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/*
 * `zonetally reload`: sends SIGHUP to the daemon that holds the state dir's lock and waits
 * until it reports the reload done (exit 0) or failed (exit 1, with its reason), so that
 * `systemctl reload` tells.
 */
int
cmd_reload(struct cli *c, int argc, char **argv)
{
	long pid = -1, timeout_ms = 60000;
	struct verdict v;
	int r = reload_options(c, argc, argv, &pid, &timeout_ms);

	if (r != 0)
		return r;
	if ((pid = reload_target(c, pid)) < 0)
		return EXIT_FAILURE;
	unsigned long before = read_verdict(c->state_dir, &v) == 0 && v.pid == pid ? v.gen : 0;
	if (kill((pid_t)pid, SIGHUP) < 0) {
		(void)fprintf(
		    stderr, "zonetally reload: cannot signal pid %ld: %s\n", pid, strerror(errno));
		return EXIT_FAILURE;
	}
	r = wait_verdict(c, pid, before, timeout_ms, &v);
	if (r == 2) {
		(void)fprintf(stderr, "zonetally reload: no verdict from pid %ld within %ld s\n",
		    pid, timeout_ms / 1000);
		return EXIT_FAILURE;
	}
	(void)fprintf(r == 0 ? stdout : stderr, "zonetally reload: %s: %s\n",
	    r == 0 ? "done" : "failed", v.text);
	return r == 0 ? 0 : EXIT_FAILURE;
}

/*
 * `zonetally check-config [FILE]`: loads and validates FILE (default: -c CONFIG, then
 * /etc/zonetally/zonetallyd.conf) exactly as the daemon would, with the CURVE key file and
 * allowlists it names; errors say FILE:LINE.
 */
int
cmd_check_config(struct cli *c, int argc, char **argv)
{
	struct zt_config cfg;
	char err[ZT_CONFIG_ERR_LEN] = "";

	if (argc > 2)
		return usage_error(c->cmd, "at most one FILE");
	const char *path = argc == 2 ? argv[1]
	    : c->config != NULL      ? c->config
	                             : ZT_CONFIG_DEFAULT_PATH;
	if (zt_config_init(&cfg) < 0) {
		(void)fprintf(stderr, "zonetally: out of memory\n");
		return EXIT_FAILURE;
	}
	int r = zt_config_load(&cfg, path, err, sizeof(err));
	if (r == 0)
		r = zt_config_validate(&cfg, err, sizeof(err));
	if (r == 0) /* issue 6: the key files and allowlists it names, as the daemon loads them */
		r = check_security(path, &cfg, err, sizeof(err));
	zt_config_done(&cfg);
	if (r < 0) {
		(void)fprintf(stderr, "zonetally check-config: %s%s%s\n",
		    strstr(err, path) == err ? "" : path, strstr(err, path) == err ? "" : ": ",
		    err);
		return EXIT_FAILURE;
	}
	(void)printf("%s: configuration OK\n", path);
	return 0;
}
