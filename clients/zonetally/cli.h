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

#define EXIT_USAGE 2 /* bad command line; EXIT_FAILURE (1) is a runtime error */

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
	const char *cmd;
	bool json;
	bool period_set;
	struct zt_period period;
	const char *config; /* -c CONFIG, or NULL */
};

/* main.c */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int period_option(struct cli *c, int opt, const char *arg);
void period_default(struct cli *c);
int open_reader(const struct cli *c, struct zt_reader **ret);
int print_json(struct json_object *o);
void cell(const char *s, size_t width, bool right);
int parse_uint(const char *s, unsigned long max, unsigned long *ret);

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

/* cmd_keys.c */
struct zt_config;
int cmd_keygen(struct cli *c, int argc, char **argv);
int check_security(const char *config_path, const struct zt_config *c, char *err, size_t errlen);

#endif /* ZT_CLI_H */
