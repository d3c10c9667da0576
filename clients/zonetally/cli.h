/*
 * cli.h: what the `zonetally` command files share: the command entry points (one file per
 * group), the period flags, opening the store, printing JSON, aligned table cells and the
 * exit codes. Indexed by file, as the OpenBSD daemons do.
 */
#ifndef ZT_CLI_H
#define ZT_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "zonetally.h"

#define EXIT_USAGE         2  /* bad command line; EXIT_FAILURE (1) is a runtime error */
#define ZT_CLI_MAX_CONNECT 16 /* --connect shards, at most */

/* The period flags every reading command takes; each sets its own opt value. */
enum {
	OPT_DAY = 0x100,
	OPT_MONTH,
	OPT_YEAR,
	OPT_ALL,
	OPT_JSON,
	OPT_PROVINCE,
	OPT_BY,
};

#define PERIOD_LONGOPTS                                                                           \
	{"day", required_argument, NULL, OPT_DAY}, {"month", required_argument, NULL, OPT_MONTH}, \
	    {"year", required_argument, NULL, OPT_YEAR}, {"all", no_argument, NULL, OPT_ALL},     \
	{                                                                                         \
		"json", no_argument, NULL, OPT_JSON                                               \
	}

/* One command's common state. */
struct cli {
	const char *state_dir;
	bool state_dir_defaulted; /* neither --state-dir nor a configuration named it */
	const char *cmd;
	bool json;
	bool period_set;
	struct zt_period period;
	const char *config;                      /* -c CONFIG, or NULL */
	const char *connect[ZT_CLI_MAX_CONNECT]; /* --connect: query sockets instead of the store */
	size_t n_connect;
	const struct zt_curve_keys *curve; /* --curve-server-key/--curve-key, or NULL */
};

/* main.c */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int period_option(struct cli *c, int opt, const char *arg);
void period_default(struct cli *c);
int open_reader(const struct cli *c, struct zt_reader **ret);
int print_json(struct json_object *o);
void cell(const char *s, size_t width, bool right);
int parse_uint(const char *s, unsigned long max, unsigned long *ret);
/* After getopt_long() returned opt ('?' or an option whose value was refused): says what
 * was wrong, with a hint for a global option given after the command. Returns EXIT_USAGE. */
int option_error(const struct cli *c, int opt, char *const *argv);

/* help.c */
int command_help(const char *cmd); /* 0 printed, 1 write error, -1 no such command */
bool wants_help(int argc, char *const *argv);

/* cmd_get.c */
int cmd_get(struct cli *c, int argc, char **argv);
int cmd_top(struct cli *c, int argc, char **argv);
int cmd_provinces(struct cli *c, int argc, char **argv);

/* cmd_zones.c */
int cmd_zones(struct cli *c, int argc, char **argv);

/* cmd_stats.c */
int cmd_stats(struct cli *c, int argc, char **argv);

/* cmd_ops.c */
int cmd_reload(struct cli *c, int argc, char **argv);
int cmd_check_config(struct cli *c, int argc, char **argv);

/* cmd_backup.c */
int cmd_backup(struct cli *c, int argc, char **argv);
int cmd_verify(struct cli *c, int argc, char **argv);
/* cmd_rejects.c */
int cmd_rejects(struct cli *c, int argc, char **argv);
/* main.c, issue 4 */
int query_endpoints(const struct cli *c, const char **ret, size_t *ret_n);

/* remote.c: the --connect source of the read commands */
struct remote;
struct remote_zone {
	const struct zt_zone *z;
	struct zt_totals_block b;
};
int remote_open(const struct cli *c, struct remote **ret);
struct remote *remote_free(struct remote *rm);
size_t remote_zones(const struct remote *rm, const struct zt_zone **ret);
int remote_resolve(
    const struct remote *rm, uint32_t code, bool force_province, struct zt_target *ret);
int remote_get(const struct cli *c, struct remote *rm, int level, uint32_t code,
    const struct zt_period *p, struct zt_totals_block *ret);
int remote_zone_blocks(const struct cli *c, struct remote *rm, const struct zt_period *p,
    struct remote_zone *ret, size_t *ret_n);
int remote_stats(const struct cli *c, struct remote *rm, struct zt_counters *ret, uint64_t *ret_map,
    uint64_t *ret_used, struct zt_publisher **ret_pubs, size_t *ret_n_pubs);

/* cmd_watch.c */
int cmd_watch(struct cli *c, int argc, char **argv);

/* cmd_keys.c */
struct zt_config;
int cmd_keygen(struct cli *c, int argc, char **argv);
int check_security(const char *config_path, const struct zt_config *c, char *err, size_t errlen);

#endif /* ZT_CLI_H */
