/*
 * cmd_backup.c: `zonetally backup DEST` (a compacting copy of the live store, taken at one
 * read snapshot while the daemon keeps ingesting) and `zonetally verify DIR` (schema
 * version and roll-up consistency of a store, a backup's included).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* DIR itself when it holds data.mdb, else DIR/store (a state dir). */
static void
store_dir_of(const char *dir, char *out, size_t len)
{
	char probe[4200];
	struct stat st;

	(void)snprintf(probe, sizeof(probe), "%s/data.mdb", dir);
	if (stat(probe, &st) == 0)
		(void)snprintf(out, len, "%s", dir);
	else
		(void)snprintf(out, len, "%s/store", dir);
}

static int
open_store_ro(const char *dir, struct zt_store **ret)
{
	int r = zt_store_open(dir, ZT_STORE_RDONLY, 0, ret);

	if (r < 0)
		(void)fprintf(
		    stderr, "zonetally: cannot open the store in '%s': %s\n", dir, zt_strerror(r));
	return r;
}

/* --json as the only option of these commands; sets c->json. */
static int
json_only(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != OPT_JSON)
			return option_error(c, opt, argv);
		c->json = true;
	}
	if (optind != argc - 1)
		return usage_error(c->cmd, "expected one directory");
	return 0;
}

/* Reports what the backup holds: its size and the commit it reflects. */
static int
report_backup(struct cli *c, const char *src, const char *dest)
{
	struct zt_store *b = NULL;
	struct zt_counters k;
	uint64_t map = 0, used = 0;

	if (open_store_ro(dest, &b) < 0)
		return EXIT_FAILURE;
	int r = zt_store_counters(b, &k);
	if (r == 0)
		r = zt_store_size(b, &map, &used);
	b = zt_store_free(b);
	if (r < 0) {
		(void)fprintf(
		    stderr, "zonetally backup: cannot read '%s': %s\n", dest, zt_strerror(r));
		return EXIT_FAILURE;
	}
	if (!c->json) {
		char bytes[ZT_YUAN_LEN], acc[ZT_YUAN_LEN];
		(void)zt_fmt_count((int64_t)used, bytes);
		(void)zt_fmt_count((int64_t)k.accepted, acc);
		(void)printf(
		    "backup of '%s' in '%s': %s bytes (%llu MiB), feed_seq %llu, %s accepted\n",
		    src, dest, bytes, (unsigned long long)(used >> 20),
		    (unsigned long long)k.feed_seq, acc);
		return 0;
	}
	struct json_object *o = json_object_new_object();
	(void)json_object_object_add(o, "dest", json_object_new_string(dest));
	(void)json_object_object_add(o, "bytes", json_object_new_uint64(used));
	(void)json_object_object_add(o, "feed_seq", json_object_new_uint64(k.feed_seq));
	(void)json_object_object_add(o, "accepted", json_object_new_uint64(k.accepted));
	return print_json(o);
}

/* `zonetally backup DEST [--json]`: DEST is created (it must not hold a store already). */
int
cmd_backup(struct cli *c, int argc, char **argv)
{
	char src[4200];
	struct zt_store *s = NULL;
	int r = json_only(c, argc, argv);

	if (r != 0)
		return r;
	const char *dest = argv[argc - 1];
	if (mkdir(dest, 0750) < 0 && errno != EEXIST) {
		(void)fprintf(
		    stderr, "zonetally backup: cannot create '%s': %s\n", dest, strerror(errno));
		return EXIT_FAILURE;
	}
	(void)snprintf(src, sizeof(src), "%s/store", c->state_dir);
	if (open_store_ro(src, &s) < 0)
		return EXIT_FAILURE;
	r = zt_store_backup(s, dest, true);
	s = zt_store_free(s);
	if (r < 0) {
		(void)fprintf(stderr, "zonetally backup: copy to '%s' failed: %s\n", dest,
		    r == -EEXIST ? "it already holds a store" : zt_strerror(r));
		return EXIT_FAILURE;
	}
	return report_backup(c, src, dest);
}

static void
print_key(const char *what, const struct zt_tkey *k)
{
	(void)fprintf(stderr,
	    "zonetally verify: first %s: level %u code %06u granularity %u bucket %u direction %u "
	    "mode %u\n",
	    what, (unsigned)k->level, (unsigned)k->code, (unsigned)k->gran, (unsigned)k->bucket,
	    (unsigned)k->direction, (unsigned)k->mode);
}

/* `zonetally verify DIR [--json]`: DIR is a store (a backup) or a state dir. */
int
cmd_verify(struct cli *c, int argc, char **argv)
{
	char dir[4200];
	struct zt_store *s = NULL;
	struct zt_verify_report rep = {0};
	int r = json_only(c, argc, argv);

	if (r != 0)
		return r;
	store_dir_of(argv[argc - 1], dir, sizeof(dir));
	if (open_store_ro(dir, &s) < 0) /* refuses another schema version (ZT_E_SCHEMA) */
		return EXIT_FAILURE;
	r = zt_store_verify(s, &rep);
	s = zt_store_free(s);
	if (r < 0 && r != ZT_E_CORRUPT) {
		(void)fprintf(stderr, "zonetally verify: '%s': %s\n", dir, zt_strerror(r));
		return EXIT_FAILURE;
	}
	if (c->json) {
		struct json_object *o = json_object_new_object();
		(void)json_object_object_add(o, "ok", json_object_new_boolean(r == 0));
		(void)json_object_object_add(o, "schema", json_object_new_int(ZT_SCHEMA_VERSION));
		(void)json_object_object_add(o, "totals", json_object_new_uint64(rep.totals));
		(void)json_object_object_add(
		    o, "mismatches", json_object_new_uint64(rep.mismatches));
		(void)json_object_object_add(o, "missing", json_object_new_uint64(rep.missing));
		int p = print_json(o);
		return r == 0 ? p : EXIT_FAILURE;
	}
	if (r == 0) {
		(void)printf("'%s': schema %d, %llu totals, every roll-up equals its leaves: OK\n",
		    dir, ZT_SCHEMA_VERSION, (unsigned long long)rep.totals);
		return 0;
	}
	(void)fprintf(stderr,
	    "zonetally verify: '%s': %llu totals differ from their leaves, %llu missing\n", dir,
	    (unsigned long long)rep.mismatches, (unsigned long long)rep.missing);
	print_key(rep.mismatches ? "mismatch" : "missing", &rep.first_bad);
	return EXIT_FAILURE;
}
