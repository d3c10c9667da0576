/*
 * cmd_zones.c: `zonetally zones`, the zone registry as the store holds it.
 */
#include <stdlib.h>

#include "cli.h"

static const char *const checks[] = {"read", "indirect", "unverified"};

static const char *
check_name(uint8_t c)
{
	return c < sizeof(checks) / sizeof(checks[0]) ? checks[c] : "invalid";
}

static struct json_object *
zone_json(const struct zt_zone *z)
{
	struct json_object *o = json_object_new_object();
	char code[16], prov[16];

	(void)snprintf(code, sizeof(code), "%06u", z->code);
	(void)snprintf(prov, sizeof(prov), "%06u", z->province);
	if (o == NULL || json_object_object_add(o, "code", json_object_new_string(code)) < 0 ||
	    json_object_object_add(o, "name_en", json_object_new_string(z->city_en)) < 0 ||
	    json_object_object_add(o, "name_zh", json_object_new_string(z->city_zh)) < 0 ||
	    json_object_object_add(o, "province", json_object_new_string(prov)) < 0 ||
	    json_object_object_add(o, "province_en", json_object_new_string(z->province_en)) < 0 ||
	    json_object_object_add(o, "batch", json_object_new_int(z->batch)) < 0 ||
	    json_object_object_add(o, "approved_year", json_object_new_int(z->approved_year)) < 0 ||
	    json_object_object_add(o, "revoked_year",
	        z->revoked_year != 0 ? json_object_new_int(z->revoked_year) : NULL) < 0 ||
	    json_object_object_add(
	        o, "name_check", json_object_new_string(check_name(z->name_check))) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *
zones_json(const struct zt_zone *z, size_t n)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();

	if (o == NULL || a == NULL || json_object_object_add(o, "zones", a) < 0) {
		json_object_put(a);
		json_object_put(o);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = zone_json(&z[i]);
		if (e == NULL || json_object_array_add(a, e) < 0) {
			json_object_put(e);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

static void
zones_text(const struct zt_zone *z, size_t n)
{
	(void)printf("code    ");
	cell("city", 24, false);
	cell("", 20, false);
	cell("province", 16, false);
	(void)printf("batch  year  revoked  name_check\n");
	for (size_t i = 0; i < n; i++) {
		char rev[8] = "-";
		if (z[i].revoked_year != 0)
			(void)snprintf(rev, sizeof(rev), "%u", z[i].revoked_year);
		(void)printf("%06u  ", z[i].code);
		cell(z[i].city_en, 24, false);
		cell(z[i].city_zh, 20, false);
		cell(z[i].province_en, 16, false);
		(void)printf("%5u  %4u  %7s  %s\n", z[i].batch, z[i].approved_year, rev,
		    check_name(z[i].name_check));
	}
	(void)printf("%zu zones\n", n);
}

int
cmd_zones(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, OPT_JSON}, {NULL, 0, NULL, 0}};
	const struct zt_zone *z;
	struct zt_reader *rd;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != OPT_JSON)
			return option_error(c, opt, argv);
		c->json = true;
	}
	if (optind != argc)
		return usage_error(c->cmd, "unexpected operand '%s'", argv[optind]);
	if (c->n_connect > 0) {
		struct remote *rm;
		if ((r = remote_open(c, &rm)) != 0)
			return r;
		size_t nr = remote_zones(rm, &z);
		if (c->json)
			r = print_json(zones_json(z, nr));
		else
			zones_text(z, nr);
		remote_free(rm);
		return r;
	}
	if ((r = open_reader(c, &rd)) != 0)
		return r;
	size_t n = zt_reader_zones(rd, &z);
	if (c->json)
		r = print_json(zones_json(z, n));
	else
		zones_text(z, n);
	zt_reader_free(rd);
	return r;
}
