/*
 * cmd_get.c: the commands that read totals of one period: `get` (one code, every direction
 * and mode), `top` (zones ranked by value) and `provinces` (all 31 and the nation).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const dir_names[ZT_DIR__COUNT] = {"total", "import", "export"};
static const int dir_order[ZT_DIR__COUNT] = {ZT_DIR_IMPORT, ZT_DIR_EXPORT, ZT_DIR_ALL};

/* Prints one row of a totals table: label, events, value (yuan), items, reversals. */
static void
totals_row(const char *label, const struct zt_totals *t)
{
	char ev[ZT_YUAN_LEN], val[ZT_YUAN_LEN], it[ZT_YUAN_LEN], rv[ZT_YUAN_LEN];

	(void)zt_fmt_count(t->events, ev);
	(void)zt_fmt_yuan(t->value_fen, val);
	(void)zt_fmt_count(t->items, it);
	(void)zt_fmt_count(t->reversals, rv);
	cell(label, 14, false);
	cell(ev, 14, true);
	cell(val, 24, true);
	cell(it, 14, true);
	cell(rv, 11, true);
	(void)putchar('\n');
}

static void
totals_header(const char *first)
{
	cell(first, 14, false);
	cell("events", 14, true);
	cell("value (yuan)", 24, true);
	cell("items", 14, true);
	cell("reversals", 11, true);
	(void)putchar('\n');
}

static void
period_text(const struct zt_period *p, char *buf, size_t len)
{
	char b[16];

	(void)zt_period_format(p, b, sizeof(b));
	(void)snprintf(
	    buf, len, "%s%s%s", zt_gran_name(p->gran), p->gran == ZT_GRAN_ALL ? "" : " ", b);
}

/* True if nothing was ever counted in the block (a reversed declaration still counts). */
static bool
block_empty(const struct zt_totals_block *b)
{
	const struct zt_totals *t = &b->t[ZT_DIR_ALL][ZT_MODE_ALL];

	return t->events == 0 && t->value_fen == 0 && t->items == 0 && t->reversals == 0;
}

/*
 * For a zone and a period outside the years it is valid in, why it can have no data:
 * events of those years are rejected zone_not_valid. "" otherwise.
 */
static void
validity_note(const struct zt_target *t, const struct zt_period *p, char *buf, size_t len)
{
	uint32_t first = p->gran == ZT_GRAN_YEAR ? p->bucket
	    : p->gran == ZT_GRAN_MONTH           ? p->bucket / 100
	                                         : p->bucket / 10000;
	const struct zt_zone *z = t->zone;

	buf[0] = '\0';
	if (z == NULL || p->gran == ZT_GRAN_ALL)
		return;
	if (first < z->approved_year)
		(void)snprintf(buf, len,
		    ": the zone was approved in %u, so events before are rejected",
		    z->approved_year);
	else if (z->revoked_year != 0 && first >= z->revoked_year)
		(void)snprintf(buf, len,
		    ": the zone was revoked from %u, so events since are rejected",
		    z->revoked_year);
}

static void
get_text(const struct zt_target *t, const struct zt_period *p, const struct zt_totals_block *b)
{
	static const char *const level[ZT_LEVEL__COUNT] = {"nation", "province", "zone"};
	char per[32], why[128];

	period_text(p, per, sizeof(per));
	(void)printf(
	    "%06u  %s %s  (%s)  %s\n\n", t->code, t->name_en, t->name_zh, level[t->level], per);
	if (block_empty(b)) {
		validity_note(t, p, why, sizeof(why));
		(void)printf("no data for %s%s\n", per, why);
		return;
	}
	totals_header("");
	for (size_t i = 0; i < ZT_DIR__COUNT; i++)
		totals_row(dir_names[dir_order[i]], &b->t[dir_order[i]][ZT_MODE_ALL]);
	(void)printf("\nby mode\n");
	totals_header("mode");
	for (int m = ZT_MODE_9610; m < ZT_MODE__COUNT; m++) {
		char name[8];
		(void)snprintf(name, sizeof(name), "%u", zt_mode_number(m));
		for (size_t i = 0; i < ZT_DIR__COUNT; i++) {
			int d = dir_order[i];
			char label[24];
			(void)snprintf(
			    label, sizeof(label), "%s %s", i == 0 ? name : "    ", dir_names[d]);
			totals_row(label, &b->t[d][m]);
		}
	}
}

/* Parses the CODE operand: exactly six digits. */
static int
parse_code(const char *s, uint32_t *ret)
{
	unsigned long v;

	if (strlen(s) != 6 || parse_uint(s, 999999, &v) < 0)
		return -1;
	*ret = (uint32_t)v;
	return 0;
}

/* Why CODE names no total: with --province, only the province rule applied. */
static void
not_found(uint32_t code, bool province)
{
	if (province)
		(void)fprintf(stderr,
		    "zonetally get: %06u is not a province code: --province takes one of the 31 "
		    "province-level codes, NN0000 (e.g. 330000 Zhejiang)\n",
		    code);
	else
		(void)fprintf(stderr,
		    "zonetally get: %06u is not a zone of the registry (zonetally zones lists "
		    "them), a province (NN0000) or 000000\n",
		    code);
}

/* get over --connect: the same output, the block summed over the shards. */
static int
get_remote(struct cli *c, uint32_t code, bool province)
{
	struct remote *rm;
	struct zt_target t;
	struct zt_totals_block b;
	int r;

	if ((r = remote_open(c, &rm)) != 0)
		return r;
	if (remote_resolve(rm, code, province, &t) < 0) {
		not_found(code, province);
		remote_free(rm);
		return EXIT_FAILURE;
	}
	if ((r = remote_get(c, rm, t.level, t.code, &c->period, &b)) == 0) {
		if (c->json)
			r = print_json(zt_fmt_get_json(&t, &c->period, &b));
		else
			get_text(&t, &c->period, &b);
	}
	remote_free(rm);
	return r;
}

int
cmd_get(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    PERIOD_LONGOPTS, {"province", no_argument, NULL, OPT_PROVINCE}, {NULL, 0, NULL, 0}};
	bool province = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_JSON)
			c->json = true;
		else if (opt == OPT_PROVINCE)
			province = true;
		else if (opt >= OPT_DAY && opt <= OPT_ALL) {
			if ((r = period_option(c, opt, optarg)) != 0)
				return r;
		} else
			return option_error(c, opt, argv);
	}
	if (optind != argc - 1)
		return usage_error(c->cmd, "expected one CODE");
	uint32_t code;
	if (parse_code(argv[optind], &code) < 0)
		return usage_error(c->cmd, "CODE must be 6 digits, not '%s'", argv[optind]);
	period_default(c);

	if (c->n_connect > 0)
		return get_remote(c, code, province);
	struct zt_reader *rd;
	struct zt_target t;
	struct zt_totals_block b;
	if ((r = open_reader(c, &rd)) != 0)
		return r;
	if (zt_reader_resolve(rd, code, province, &t) < 0) {
		not_found(code, province);
		zt_reader_free(rd);
		return EXIT_FAILURE;
	}
	if ((r = zt_reader_get(rd, t.level, t.code, &c->period, &b)) < 0) {
		(void)fprintf(stderr, "zonetally get: %s\n", zt_strerror(r));
		zt_reader_free(rd);
		return EXIT_FAILURE;
	}
	if (c->json)
		r = print_json(zt_fmt_get_json(&t, &c->period, &b));
	else
		get_text(&t, &c->period, &b);
	zt_reader_free(rd);
	return r;
}

static int by_dir = ZT_DIR_ALL; /* qsort has no argument: the direction top ranks by */

/* Larger value first, then more events, then the smaller code. */
static int
rank_cmp(const void *a, const void *b)
{
	const struct zt_ranked *x = a, *y = b;
	const struct zt_totals *tx = &x->b.t[by_dir][ZT_MODE_ALL],
	                       *ty = &y->b.t[by_dir][ZT_MODE_ALL];

	if (tx->value_fen != ty->value_fen)
		return tx->value_fen > ty->value_fen ? -1 : 1;
	if (tx->events != ty->events)
		return tx->events > ty->events ? -1 : 1;
	return x->z->code < y->z->code ? -1 : x->z->code > y->z->code;
}

static bool
touched(const struct zt_totals *t)
{
	return t->events != 0 || t->value_fen != 0 || t->items != 0 || t->reversals != 0;
}

/* Reads every zone's block; keeps the zones with anything counted. */
static int
read_zones(struct zt_reader *rd, const struct zt_period *p, struct zt_ranked **ret, size_t *ret_n)
{
	const struct zt_zone *zones;
	size_t nz = zt_reader_zones(rd, &zones), n = 0;
	struct zt_ranked *v = calloc(nz > 0 ? nz : 1, sizeof(*v));
	int r = 0;

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < nz && r == 0; i++) {
		v[n].z = &zones[i];
		r = zt_reader_get(rd, ZT_LEVEL_ZONE, zones[i].code, p, &v[n].b);
		if (r == 0 && touched(&v[n].b.t[ZT_DIR_ALL][ZT_MODE_ALL]))
			n++;
	}
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static void
top_text(const struct cli *c, const struct zt_ranked *v, size_t n, const char *by)
{
	char per[32], imp[ZT_YUAN_LEN], exp[ZT_YUAN_LEN], tot[ZT_YUAN_LEN], ev[ZT_YUAN_LEN];

	period_text(&c->period, per, sizeof(per));
	(void)printf("top zones by %s value, %s\n\n", by, per);
	cell("rank", 5, true);
	(void)printf("  code    ");
	cell("zone", 30, false);
	cell("import (yuan)", 22, true);
	cell("export (yuan)", 22, true);
	cell("total (yuan)", 22, true);
	cell("events", 13, true);
	(void)putchar('\n');
	bool any = false;
	for (size_t i = 0; i < n && !any; i++)
		any = !block_empty(&v[i].b);
	if (!any)
		(void)printf("no data for %s\n", per);
	for (size_t i = 0; i < n && any; i++) {
		const struct zt_totals_block *b = &v[i].b;
		char rank[24], name[128];
		(void)snprintf(rank, sizeof(rank), "%zu", i + 1);
		(void)snprintf(name, sizeof(name), "%s %s", v[i].z->city_en, v[i].z->city_zh);
		(void)zt_fmt_yuan(b->t[ZT_DIR_IMPORT][ZT_MODE_ALL].value_fen, imp);
		(void)zt_fmt_yuan(b->t[ZT_DIR_EXPORT][ZT_MODE_ALL].value_fen, exp);
		(void)zt_fmt_yuan(b->t[ZT_DIR_ALL][ZT_MODE_ALL].value_fen, tot);
		(void)zt_fmt_count(b->t[ZT_DIR_ALL][ZT_MODE_ALL].events, ev);
		cell(rank, 5, true);
		(void)printf("  %06u  ", v[i].z->code);
		cell(name, 30, false);
		cell(imp, 22, true);
		cell(exp, 22, true);
		cell(tot, 22, true);
		cell(ev, 13, true);
		(void)putchar('\n');
	}
}

/* Parses --by and -n. Returns 0 or an exit status. */
static int
top_options(struct cli *c, int argc, char **argv, int *ret_dir, unsigned long *ret_n)
{
	static const struct option longopts[] = {
	    PERIOD_LONGOPTS, {"by", required_argument, NULL, OPT_BY}, {NULL, 0, NULL, 0}};
	int opt, r;

	while ((opt = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
		if (opt == OPT_JSON)
			c->json = true;
		else if (opt == 'n') {
			if (parse_uint(optarg, 100000, ret_n) < 0 || *ret_n == 0)
				return usage_error(
				    c->cmd, "-n: expected a count from 1, not '%s'", optarg);
		} else if (opt == OPT_BY) {
			int i;
			for (i = 0; i < ZT_DIR__COUNT; i++)
				if (strcmp(optarg, dir_names[i]) == 0)
					break;
			if (i == ZT_DIR__COUNT)
				return usage_error(
				    c->cmd, "--by: import, export or total, not '%s'", optarg);
			*ret_dir = i;
		} else if (opt >= OPT_DAY && opt <= OPT_ALL) {
			if ((r = period_option(c, opt, optarg)) != 0)
				return r;
		} else
			return option_error(c, opt, argv);
	}
	if (optind != argc)
		return usage_error(c->cmd, "unexpected operand '%s'", argv[optind]);
	period_default(c);
	return 0;
}

/* top over --connect: every shard's touched zones, summed by code, ranked here. */
static int
top_remote(struct cli *c, unsigned long limit)
{
	const struct zt_zone *zones;
	struct remote *rm;
	size_t n = 0;
	int r;

	if ((r = remote_open(c, &rm)) != 0)
		return r;
	size_t nz = remote_zones(rm, &zones);
	struct remote_zone *v = calloc(nz ? nz : 1, sizeof(*v));
	struct zt_ranked *rk = calloc(nz ? nz : 1, sizeof(*rk));
	if (v == NULL || rk == NULL)
		r = EXIT_FAILURE;
	else
		r = remote_zone_blocks(c, rm, &c->period, v, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		rk[i].z = v[i].z;
		rk[i].b = v[i].b;
	}
	if (r == 0) {
		qsort(rk, n, sizeof(*rk), rank_cmp);
		n = n > limit ? limit : n;
		if (c->json)
			r = print_json(zt_fmt_top_json(&c->period, dir_names[by_dir], rk, n));
		else
			top_text(c, rk, n, dir_names[by_dir]);
	}
	free(v);
	free(rk);
	remote_free(rm);
	return r;
}

int
cmd_top(struct cli *c, int argc, char **argv)
{
	struct zt_reader *rd;
	struct zt_ranked *v;
	unsigned long limit = 10;
	size_t n;
	int r;

	if ((r = top_options(c, argc, argv, &by_dir, &limit)) != 0)
		return r;
	if (c->n_connect > 0)
		return top_remote(c, limit);
	if ((r = open_reader(c, &rd)) != 0)
		return r;
	(void)zt_reader_begin(rd);
	r = read_zones(rd, &c->period, &v, &n);
	zt_reader_end(rd);
	if (r < 0) {
		(void)fprintf(stderr, "zonetally top: %s\n", zt_strerror(r));
		zt_reader_free(rd);
		return EXIT_FAILURE;
	}
	qsort(v, n, sizeof(*v), rank_cmp);
	if (n > limit)
		n = limit;
	if (c->json)
		r = print_json(zt_fmt_top_json(&c->period, dir_names[by_dir], v, n));
	else
		top_text(c, v, n, dir_names[by_dir]);
	free(v);
	zt_reader_free(rd); /* last: v points into its registry */
	return r;
}

#define NATION_EN "China (all zones)"
#define NATION_ZH "全国"

struct prov {
	uint32_t code;
	struct zt_totals_block b;
};

/* One line of `provinces --json`: code, names and the three directions. */
static struct json_object *
region_json(uint32_t code, const char *en, const char *zh, const struct zt_totals_block *b)
{
	struct json_object *p = json_object_new_object();
	char text[16];

	(void)snprintf(text, sizeof(text), "%06u", code);
	if (p == NULL || json_object_object_add(p, "code", json_object_new_string(text)) < 0 ||
	    json_object_object_add(p, "name_en", json_object_new_string(en)) < 0 ||
	    json_object_object_add(p, "name_zh", json_object_new_string(zh)) < 0 ||
	    zt_fmt_add_dirs_json(p, b, ZT_FMT_DIRS_ALL) < 0) {
		json_object_put(p);
		return NULL;
	}
	return p;
}

/* {"period", "provinces": [...], "nation": {...}}: the text table's lines, national one last. */
static struct json_object *
provinces_json(
    const struct cli *c, const struct prov *v, size_t n, const struct zt_totals_block *nation)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array(), *x;

	if (o == NULL || a == NULL ||
	    json_object_object_add(o, "period", zt_fmt_period_json(&c->period)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		x = region_json(v[i].code, zt_province_name(v[i].code, false),
		    zt_province_name(v[i].code, true), &v[i].b);
		if (x == NULL || json_object_array_add(a, x) < 0) {
			json_object_put(x);
			goto fail;
		}
	}
	if (json_object_object_add(o, "provinces", a) < 0)
		goto fail;
	a = NULL; /* o owns it now */
	x = region_json(ZT_NATION_CODE, NATION_EN, NATION_ZH, nation);
	if (x == NULL || json_object_object_add(o, "nation", x) < 0) {
		json_object_put(x);
		goto fail;
	}
	return o;
fail:
	json_object_put(a);
	json_object_put(o);
	return NULL;
}

static void
province_row(uint32_t code, const char *en, const char *zh, const struct zt_totals_block *b)
{
	char name[128], imp[ZT_YUAN_LEN], exp[ZT_YUAN_LEN], tot[ZT_YUAN_LEN], ev[ZT_YUAN_LEN];

	(void)snprintf(name, sizeof(name), "%s %s", en, zh);
	(void)zt_fmt_yuan(b->t[ZT_DIR_IMPORT][ZT_MODE_ALL].value_fen, imp);
	(void)zt_fmt_yuan(b->t[ZT_DIR_EXPORT][ZT_MODE_ALL].value_fen, exp);
	(void)zt_fmt_yuan(b->t[ZT_DIR_ALL][ZT_MODE_ALL].value_fen, tot);
	(void)zt_fmt_count(b->t[ZT_DIR_ALL][ZT_MODE_ALL].events, ev);
	(void)printf("%06u  ", code);
	cell(name, 40, false);
	cell(imp, 22, true);
	cell(exp, 22, true);
	cell(tot, 22, true);
	cell(ev, 13, true);
	(void)putchar('\n');
}

static void
provinces_text(
    const struct cli *c, const struct prov *v, size_t n, const struct zt_totals_block *nation)
{
	char per[32];

	period_text(&c->period, per, sizeof(per));
	(void)printf("provinces, %s\n\n", per);
	(void)printf("code    ");
	cell("province", 40, false);
	cell("import (yuan)", 22, true);
	cell("export (yuan)", 22, true);
	cell("total (yuan)", 22, true);
	cell("events", 13, true);
	(void)putchar('\n');
	if (block_empty(nation)) { /* the nation sums every province: nothing anywhere */
		(void)printf("no data for %s\n", per);
		return;
	}
	for (size_t i = 0; i < n; i++)
		province_row(v[i].code, zt_province_name(v[i].code, false),
		    zt_province_name(v[i].code, true), &v[i].b);
	province_row(ZT_NATION_CODE, NATION_EN, NATION_ZH, nation);
}

int
cmd_provinces(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {PERIOD_LONGOPTS, {NULL, 0, NULL, 0}};
	struct prov v[64];
	struct zt_totals_block nation;
	struct zt_reader *rd;
	size_t n = 0;
	int opt, r = 0;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_JSON)
			c->json = true;
		else if (opt >= OPT_DAY && opt <= OPT_ALL) {
			if ((r = period_option(c, opt, optarg)) != 0)
				return r;
		} else
			return option_error(c, opt, argv);
	}
	if (optind != argc)
		return usage_error(c->cmd, "unexpected operand '%s'", argv[optind]);
	period_default(c);
	if (c->n_connect > 0) {
		struct remote *rm;
		if ((r = remote_open(c, &rm)) != 0)
			return r;
		for (uint32_t code = 110000; code <= 650000 && r == 0; code += 10000)
			if (zt_province_name(code, false) != NULL) {
				v[n].code = code;
				r = remote_get(
				    c, rm, ZT_LEVEL_PROVINCE, code, &c->period, &v[n++].b);
			}
		if (r == 0)
			r = remote_get(c, rm, ZT_LEVEL_NATION, ZT_NATION_CODE, &c->period, &nation);
		remote_free(rm);
		if (r != 0)
			return r;
		if (c->json)
			return print_json(provinces_json(c, v, n, &nation));
		provinces_text(c, v, n, &nation);
		return 0;
	}
	if ((r = open_reader(c, &rd)) != 0)
		return r;
	(void)zt_reader_begin(rd);
	for (uint32_t code = 110000; code <= 650000 && r >= 0; code += 10000)
		if (zt_province_name(code, false) != NULL) {
			v[n].code = code;
			r = zt_reader_get(rd, ZT_LEVEL_PROVINCE, code, &c->period, &v[n++].b);
		}
	if (r >= 0)
		r = zt_reader_get(rd, ZT_LEVEL_NATION, ZT_NATION_CODE, &c->period, &nation);
	zt_reader_end(rd);
	zt_reader_free(rd);
	if (r < 0) {
		(void)fprintf(stderr, "zonetally provinces: %s\n", zt_strerror(r));
		return EXIT_FAILURE;
	}
	if (c->json)
		return print_json(provinces_json(c, v, n, &nation));
	provinces_text(c, v, n, &nation);
	return 0;
}
