/*
 * help.c: `zonetally COMMAND --help`: each command's options with their defaults and an
 * example, printed on stdout with exit status 0 (as git and systemctl do). The texts are
 * the reference the man page zonetally(1) follows.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define PERIOD_HELP                                                                  \
	"  --day YYYY-MM-DD     one CST day (default: today, China Standard Time)\n" \
	"  --month YYYY-MM      one month\n"                                         \
	"  --year YYYY          one year\n"                                          \
	"  --all                all time\n"
#define JSON_HELP "  --json               one JSON object instead of the table\n"

static const struct {
	const char *name, *text;
} helps[] = {
    {"get",
        "usage: zonetally get CODE [--province] [PERIOD] [--json]\n"
        "Totals of a zone (330100), a province (330000) or the nation (000000): import,\n"
        "export and total (events, value in yuan, items, reversals), then by mode.\n" PERIOD_HELP
        "  --province           read NN0000 as the province, not the zone of that code\n"
        "                       (460000: the Hainan zone; with --province, Hainan)\n" JSON_HELP
        "example: zonetally get 330100 --day 2022-11-11\n"},
    {"top",
        "usage: zonetally top [--by import|export|total] [-n N] [PERIOD] [--json]\n"
        "Zones ranked by value, then events, then code.\n"
        "  --by DIRECTION       import, export or total (default: total)\n"
        "  -n N                 how many zones, 1..100000 (default: 10)\n" PERIOD_HELP JSON_HELP
        "example: zonetally top --by export -n 5 --month 2022-11\n"},
    {"provinces",
        "usage: zonetally provinces [PERIOD] [--json]\n"
        "All 31 province-level divisions, then the national line.\n" PERIOD_HELP JSON_HELP
        "example: zonetally provinces --year 2022\n"},
    {"zones",
        "usage: zonetally zones [--json]\n"
        "The zone registry: code, names, province, batch, approval year, revocation and\n"
        "name check.\n" JSON_HELP "example: zonetally zones --json\n"},
    {"stats",
        "usage: zonetally stats [--json]\n"
        "The daemon's counters as committed: messages by outcome, rejections by reason,\n"
        "commits, feed_seq, watermark, store size and every publisher's sequence state.\n"
        "With --connect, read over the query socket (the same output).\n" JSON_HELP
        "example: zonetally --connect tcp://db1:7604 stats\n"},
    {"reload",
        "usage: zonetally reload [--pid PID] [--timeout S]\n"
        "Sends SIGHUP to the daemon and waits for its verdict: exit 0 when the new\n"
        "configuration is in force, 1 with the daemon's reason when it kept the old one.\n"
        "  --pid PID            the daemon (default: the pid in <state_dir>/zonetallyd.pid;\n"
        "                       systemd passes $MAINPID)\n"
        "  --timeout S          seconds to wait for the verdict, 1..86400 (default: 60)\n"
        "example: sudo zonetally reload\n"},
    {"check-config",
        "usage: zonetally check-config [FILE]\n"
        "Loads and validates FILE as the daemon would (default: -c CONFIG, else\n"
        "/etc/zonetally/zonetallyd.conf), with the CURVE key file, allowlists and\n"
        "api_token_file it names; prints 'FILE: configuration OK' or FILE:LINE: why.\n"
        "example: zonetally check-config /etc/zonetally/zonetallyd.conf\n"},
    {"backup",
        "usage: zonetally backup DEST [--json]\n"
        "Compacting online copy of the store into DEST, while the daemon runs. DEST is\n"
        "created (mode 0750) if missing, its parent must exist; it must not hold a\n"
        "store already.\n" JSON_HELP
        "example: sudo -u zonetally zonetally backup /var/lib/zonetally/backup-$(date "
        "+%F)\n"},
    {"verify",
        "usage: zonetally verify DIR [--json]\n"
        "Checks the schema version and that every roll-up equals the sum of its parts,\n"
        "in a state directory or a backup.\n" JSON_HELP
        "example: zonetally verify /var/lib/zonetally/backup-2026-11-29\n"},
    {"rejects",
        "usage: zonetally rejects [--reason R] [--limit N] [--raw FILE] [--json]\n"
        "The newest rejected messages the daemon kept (rejects_max of them), newest\n"
        "first: arrival number, time, reason, size, publisher and sequence, and what\n"
        "exactly was wrong.\n"
        "  --reason R           only this reason (a name of `zonetally stats`)\n"
        "  --limit N            at most N, 1..100000000 (default: 20)\n"
        "  --raw FILE           write the newest listed message's kept bytes to FILE\n" JSON_HELP
        "example: zonetally rejects --reason missing_field --limit 5\n"},
    {"watch",
        "usage: zonetally watch [CODE...] [PERIOD] [--json] [--heartbeats] [--rcvhwm N]\n"
        "Follows the live feed: a table redrawn every second (and on resize), or with\n"
        "--json one line per change and a status line when the view turns live,\n"
        "syncing, stale or offline. CODE: prefixes of 1 to 6 digits (default: all).\n"
        "  PERIOD               --day, --month, --year (the current one only) or --all\n"
        "                       (default: today, CST)\n"
        "  --json               JSON lines instead of the table\n"
        "  --heartbeats         with --json, a line per heartbeat that confirms the view\n"
        "  --rcvhwm N           the feed's receive high-water mark (default: ZeroMQ's,\n"
        "                       1000)\n"
        "example: zonetally watch 33 440100\n"},
    {"keygen",
        "usage: zonetally keygen NAME [--dir DIR]\n"
        "Writes a CURVE key pair: DIR/NAME.key (mode 0600, secret) and DIR/NAME.pub.\n"
        "  --dir DIR            where to write them (default: the current directory)\n"
        "example: zonetally keygen hangzhou --dir /etc/zonetally\n"},
};

int
command_help(const char *cmd)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (strcmp(cmd, helps[i].name) == 0) {
			(void)fputs(helps[i].text, stdout);
			(void)fputs(
			    "Global options (before the command): see zonetally --help.\n", stdout);
			return fflush(stdout) == 0 ? 0 : 1;
		}
	return -1;
}

/* True if argv asks for help: --help or -h anywhere before a "--". */
bool
wants_help(int argc, char *const *argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}
