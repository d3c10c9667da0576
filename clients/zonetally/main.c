/*
 * main.c: the `zonetally` CLI: global options, finding the store (--state-dir, -c CONFIG's
 * state_dir, or the default configuration), dispatch to the command files, and the helpers
 * they share (period flags, strict numbers, JSON output, aligned cells).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "zt_config.h"

#define DEFAULT_STATE_DIR "/var/lib/zonetally"

static const char usage_text[] =
    "usage: zonetally [-c CONFIG] [--state-dir DIR] [--connect EP]...\n"
    "                 [--curve-server-key FILE|Z85 --curve-key FILE] COMMAND [ARGS]\n"
    "  get CODE [--province] [PERIOD] [--json]   totals of a zone, province or 000000\n"
    "  top [--by import|export|total] [-n N] [PERIOD] [--json]\n"
    "  provinces [PERIOD] [--json]\n"
    "  zones [--json]\n"
    "  stats [--json]\n"
    "  reload [--pid PID] [--timeout S]        reload the daemon's configuration, wait for it\n"
    "  check-config [FILE]                     validate a configuration file\n"
    "  backup DEST [--json]                    compacting online copy of the store\n"
    "  verify DIR [--json]                     check a store's schema and roll-ups\n"
    "  rejects [--reason R] [--limit N] [--raw FILE] [--json]   newest rejected messages\n"
    "  watch [CODE...] [PERIOD] [--json] [--heartbeats] [--rcvhwm N]   live totals\n"
    "--connect EP: ask a daemon's query socket (tcp://host:7604) instead of the local\n"
    "  store; repeat it for shards (results are merged)\n"
    "  keygen NAME [--dir DIR]                 CURVE key pair NAME.key (0600) + NAME.pub\n"
    "PERIOD: --day YYYY-MM-DD | --month YYYY-MM | --year YYYY | --all (default: today, CST)\n"
    "-c CONFIG: find the store through CONFIG's state_dir (default: /etc/zonetally/\n"
    "  zonetallyd.conf if it exists); --state-dir DIR: the store in DIR (default:\n"
    "  /var/lib/zonetally); --version: the version\n"
    "'zonetally COMMAND --help': a command's options, defaults and an example\n"
    "example: zonetally --state-dir ./state get 330100 --day 2022-11-11\n";

static const struct {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
} commands[] = {
    {"get", cmd_get},
    {"top", cmd_top},
    {"provinces", cmd_provinces},
    {"zones", cmd_zones},
    {"stats", cmd_stats},
    {"reload", cmd_reload},
    {"check-config", cmd_check_config},
    {"backup", cmd_backup},
    {"verify", cmd_verify},
    {"rejects", cmd_rejects},
    {"watch", cmd_watch},
    {"keygen", cmd_keygen},
};

int
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	(void)fprintf(stderr, "zonetally%s%s: ", cmd != NULL ? " " : "", cmd != NULL ? cmd : "");
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fprintf(stderr, "\n%s", usage_text);
	return EXIT_USAGE;
}

/* The options of zonetally itself, which go before the command. */
static const char *const global_names[] = {
    "--state-dir", "--config", "--connect", "--curve-server-key", "--curve-key", "-c"};

int
option_error(const struct cli *c, int opt, char *const *argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	size_t len = strcspn(arg, "=");

	if (opt != '?') /* a known option whose value its command refused */
		return usage_error(c->cmd, "invalid value '%s' for %s",
		    optarg != NULL ? optarg : "",
		    optarg == arg && optind > 1 ? argv[optind - 2] : arg);
	for (size_t i = 0; i < sizeof(global_names) / sizeof(global_names[0]); i++)
		if (strlen(global_names[i]) == len && strncmp(arg, global_names[i], len) == 0)
			return usage_error(c->cmd,
			    "%s is an option of zonetally itself: put it before the command, "
			    "as in 'zonetally %s ... %s ...'",
			    global_names[i], global_names[i], c->cmd);
	return usage_error(c->cmd, "see 'zonetally %s --help' for its options", c->cmd);
}

int
parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int
period_option(struct cli *c, int opt, const char *arg)
{
	static const char *const flag[] = {"--day", "--month", "--year", "--all"};
	static const int gran[] = {ZT_GRAN_DAY, ZT_GRAN_MONTH, ZT_GRAN_YEAR, ZT_GRAN_ALL};
	int i = opt - OPT_DAY;

	if (c->period_set)
		return usage_error(c->cmd, "only one of --day, --month, --year, --all");
	static const char *const format[] = {"YYYY-MM-DD, a real date (CST), e.g. 2022-11-11",
	    "YYYY-MM, e.g. 2022-11", "YYYY, e.g. 2022", "no value"};
	if (zt_period_parse(gran[i], arg, &c->period) < 0)
		return usage_error(c->cmd, "%s: invalid date '%s': expected %s", flag[i],
		    arg != NULL ? arg : "", format[i]);
	c->period_set = true;
	return 0;
}

void
period_default(struct cli *c)
{
	struct timespec ts;

	if (c->period_set)
		return;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	c->period = zt_period_day_of((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int
open_reader(const struct cli *c, struct zt_reader **ret)
{
	int r = zt_reader_open(c->state_dir, ret);

	if (r < 0) {
		(void)fprintf(stderr, "zonetally: cannot open the store in '%s': %s\n",
		    c->state_dir, zt_strerror(r));
		if ((r == ZT_E_NOSTORE || r == -ENOENT) && c->state_dir_defaulted)
			(void)fprintf(stderr,
			    "zonetally: that is the default state directory; give the daemon's "
			    "with --state-dir DIR or -c CONFIG before the command (e.g. zonetally "
			    "--state-dir ./state %s ...), or ask a daemon with --connect EP\n",
			    c->cmd);
		return EXIT_FAILURE;
	}
	return 0;
}

int
print_json(struct json_object *o)
{
	if (o == NULL) {
		(void)fprintf(stderr, "zonetally: out of memory\n");
		return EXIT_FAILURE;
	}
	(void)puts(json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return fflush(stdout) == 0 ? 0 : EXIT_FAILURE;
}

void
cell(const char *s, size_t width, bool right)
{
	char fit[512];

	if (right) { /* numbers: never cut; the column widths hold the largest */
		size_t w = zt_fmt_width(s);
		(void)printf("%*s%s", (int)(w < width ? width - w : 0), "", s);
		return;
	}
	/* text: cut to leave one column free, so that the next column never touches it */
	size_t w = zt_fmt_fit(s, width > 1 ? width - 1 : width, fit, sizeof(fit));
	(void)printf("%s%*s", fit, (int)(w < width ? width - w : 0), "");
}

/*
 * Finds the state dir from -c CONFIG (which must load), or from the default configuration
 * file if it exists, the way the daemon does. Returns 0 or an exit status.
 */
static int
state_dir_from_config(const char *path, bool required, char **ret)
{
	struct zt_config cfg;
	char err[ZT_CONFIG_ERR_LEN] = "";
	int r;

	if (zt_config_init(&cfg) < 0) {
		(void)fprintf(stderr, "zonetally: out of memory\n");
		return EXIT_FAILURE;
	}
	r = zt_config_load(&cfg, path, err, sizeof(err));
	if (r == -ENOENT && !required) {
		zt_config_done(&cfg);
		return 0;
	}
	if (r < 0) {
		if (err[0] == '\0')
			(void)snprintf(err, sizeof(err), "%s: %s", path, strerror(-r));
		(void)fprintf(stderr, "zonetally: %s\n", err);
		zt_config_done(&cfg);
		return EXIT_FAILURE;
	}
	*ret = strdup(cfg.state_dir);
	zt_config_done(&cfg);
	if (*ret == NULL) {
		(void)fprintf(stderr, "zonetally: out of memory\n");
		return EXIT_FAILURE;
	}
	return 0;
}

/* The pid in <state_dir>/zonetallyd.pid, or -1 (no file, or not a pid). */
static long
pid_file_pid(const char *state_dir)
{
	char path[4096], buf[32];
	long pid = -1;

	(void)snprintf(path, sizeof(path), "%s/zonetallyd.pid", state_dir);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		char *end;
		pid = strtol(buf, &end, 10);
		if (pid <= 1 || (*end != '\n' && *end != '\0'))
			pid = -1;
	}
	(void)fclose(f);
	return pid;
}

/*
 * The query endpoints a remote command talks to: every --connect, or else the "query" line
 * of the local daemon's endpoints file. Returns 0 or an exit status.
 */
int
query_endpoints(const struct cli *c, const char **ret, size_t *ret_n)
{
	static char local[600];
	char path[4096], line[600];

	if (c->n_connect > 0) {
		for (size_t i = 0; i < c->n_connect; i++)
			ret[i] = c->connect[i];
		*ret_n = c->n_connect;
		return 0;
	}
	(void)snprintf(path, sizeof(path), "%s/zonetallyd.endpoints", c->state_dir);
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		(void)fprintf(stderr,
		    "zonetally %s: no running daemon in '%s' (%s); use --connect\n", c->cmd,
		    c->state_dir, strerror(errno));
		return EXIT_FAILURE;
	}
	long pid = pid_file_pid(c->state_dir);
	if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
		(void)fclose(f);
		(void)fprintf(stderr,
		    "zonetally %s: no running daemon in '%s': zonetallyd.endpoints and "
		    "zonetallyd.pid are stale (pid %ld is gone; the daemon did not stop "
		    "cleanly); start it, or use --connect\n",
		    c->cmd, c->state_dir, pid);
		return EXIT_FAILURE;
	}
	local[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "query ", 6) == 0) {
			line[strcspn(line, "\n")] = '\0';
			(void)snprintf(local, sizeof(local), "%s", line + 6);
		}
	(void)fclose(f);
	if (local[0] == '\0') {
		(void)fprintf(stderr, "zonetally %s: the daemon in '%s' has no query socket\n",
		    c->cmd, c->state_dir);
		return EXIT_FAILURE;
	}
	ret[0] = local;
	*ret_n = 1;
	return 0;
}

static const char *connect_eps[ZT_CLI_MAX_CONNECT];
static size_t n_connect_eps;
static struct zt_curve_keys curve_keys;

/* Parses the options before the command; sets *ret_cmd to the command's index in argv. */
static int
global_options(int argc, char **argv, const char **ret_config, const char **ret_dir)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"connect", required_argument, NULL, 'C'},
	    {"curve-server-key", required_argument, NULL, 'S'},
	    {"curve-key", required_argument, NULL, 'K'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			*ret_config = optarg;
			break;
		case 's':
			*ret_dir = optarg;
			break;
		case 'C':
			if (n_connect_eps == ZT_CLI_MAX_CONNECT)
				return usage_error(
				    NULL, "at most %d --connect", ZT_CLI_MAX_CONNECT);
			if (strstr(optarg, "://") == NULL)
				return usage_error(NULL,
				    "--connect '%s' is not a ZeroMQ endpoint: did you mean "
				    "tcp://%s?",
				    optarg, optarg);
			connect_eps[n_connect_eps++] = optarg;
			break;
		case 'S':
			curve_keys.server_key = optarg;
			break;
		case 'K':
			curve_keys.client_key = optarg;
			break;
		case 'h':
			(void)fputs(usage_text, stdout);
			exit(EXIT_SUCCESS);
		case 'V':
			(void)puts("zonetally " ZT_VERSION);
			exit(EXIT_SUCCESS);
		default:
			return usage_error(NULL, "invalid option");
		}
	}
	if (optind >= argc)
		return usage_error(NULL, "no command");
	if ((curve_keys.server_key == NULL) != (curve_keys.client_key == NULL))
		return usage_error(NULL, "--curve-server-key and --curve-key go together");
	if (curve_keys.server_key != NULL && n_connect_eps == 0)
		return usage_error(NULL, "the CURVE keys are for --connect");
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config = NULL, *dir = NULL;
	char *from_config = NULL;
	int r;

	if ((r = global_options(argc, argv, &config, &dir)) != 0)
		return r;
	/* before anything reads a configuration: help must work on any machine */
	if (wants_help(argc - optind, argv + optind) && (r = command_help(argv[optind])) >= 0)
		return r;
	/* check-config and keygen must not need a valid configuration to find the store; with
	 * --connect and no -c, no local file is read: the store is not ours to find. */
	if (dir == NULL && strcmp(argv[optind], "check-config") != 0 &&
	    strcmp(argv[optind], "keygen") != 0 && (n_connect_eps == 0 || config != NULL)) {
		r = state_dir_from_config(
		    config != NULL ? config : ZT_CONFIG_DEFAULT_PATH, config != NULL, &from_config);
		if (r != 0)
			return r;
	}
	struct cli c = {
	    .state_dir = dir != NULL  ? dir
	        : from_config != NULL ? from_config
	                              : DEFAULT_STATE_DIR,
	    .state_dir_defaulted = dir == NULL && from_config == NULL,
	    .cmd = argv[optind],
	    .config = config,
	    .n_connect = n_connect_eps,
	    .curve = curve_keys.server_key != NULL ? &curve_keys : NULL,
	};
	memcpy(c.connect, connect_eps, sizeof(connect_eps));
	int cmdc = argc - optind;
	char **cmdv = argv + optind;
	/* getopt_long() names argv[0] in its messages: "zonetally get: unrecognized option" */
	static char prog[64];
	(void)snprintf(prog, sizeof(prog), "zonetally %s", c.cmd);
	cmdv[0] = prog;
	r = -1;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(c.cmd, commands[i].name) == 0) {
			optind = 0; /* glibc: restart getopt for the command's own options */
			r = commands[i].fn(&c, cmdc, cmdv);
		}
	if (r < 0)
		r = usage_error(NULL, "unknown command '%s'", c.cmd);
	free(from_config);
	return r;
}
