/*
 * reader.c: zt_reader_*, read-only access to a daemon's store from another process: open a
 * state directory, apply the level rule to a code, read one code's totals for a period, walk
 * a code's days. One reused LMDB read transaction per snapshot (the store's).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "zonetally.h"

struct zt_reader {
	struct zt_store *store;
};

int
zt_reader_open(const char *state_dir, struct zt_reader **ret)
{
	char path[PATH_MAX];
	struct zt_reader *r;
	int n = snprintf(path, sizeof(path), "%s/store", state_dir);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	int e = zt_store_open(path, ZT_STORE_RDONLY, 0, &r->store);
	if (e < 0) {
		free(r);
		/* a state dir with no store directory at all is "no store", not a file error */
		return e == -ENOENT ? ZT_E_NOSTORE : e;
	}
	*ret = r;
	return 0;
}

struct zt_reader *
zt_reader_free(struct zt_reader *r)
{
	if (r == NULL)
		return NULL;
	zt_store_free(r->store);
	free(r);
	return NULL;
}

struct zt_store *
zt_reader_store(struct zt_reader *r)
{
	return r->store;
}

int
zt_reader_begin(struct zt_reader *r)
{
	return zt_store_read_begin(r->store);
}

void
zt_reader_end(struct zt_reader *r)
{
	zt_store_read_end(r->store);
}

int
zt_target_of(const struct zt_zone *z, uint32_t code, bool force_province, struct zt_target *ret)
{
	struct zt_target t = {.code = code};

	if (code == ZT_NATION_CODE) {
		t.level = ZT_LEVEL_NATION;
		t.name_en = "China";
		t.name_zh = "全国";
	} else if (z != NULL && !force_province) {
		t.level = ZT_LEVEL_ZONE;
		t.province = z->province;
		t.zone = z;
		t.name_en = z->city_en;
		t.name_zh = z->city_zh;
	} else if (code % 10000 == 0 && zt_province_name(code, false) != NULL) {
		t.level = ZT_LEVEL_PROVINCE;
		t.province = code;
		t.name_en = zt_province_name(code, false);
		t.name_zh = zt_province_name(code, true);
	} else {
		return -ENOENT;
	}
	*ret = t;
	return 0;
}

int
zt_reader_resolve(
    const struct zt_reader *r, uint32_t code, bool force_province, struct zt_target *ret)
{
	return zt_target_of(zt_store_zone(r->store, code), code, force_province, ret);
}

int
zt_reader_get(struct zt_reader *r, int level, uint32_t code, const struct zt_period *p,
    struct zt_totals_block *ret)
{
	struct zt_tkey k = {
	    .level = (uint8_t)level, .code = code, .gran = p->gran, .bucket = p->bucket};
	int n = zt_store_get_block(r->store, &k, ret);

	return n < 0 ? n : 0;
}

struct days_arg {
	zt_day_cb cb;
	void *arg;
};

static int
day_fn(const struct zt_tkey *k, const struct zt_totals *t, void *arg)
{
	struct days_arg *a = arg;

	if (k->direction != ZT_DIR_ALL || k->mode != ZT_MODE_ALL)
		return 0;
	return a->cb(k->bucket, t, a->arg);
}

int
zt_reader_days(struct zt_reader *r, int level, uint32_t code, uint32_t from, uint32_t to,
    zt_day_cb cb, void *arg)
{
	struct zt_tkey lo = {.level = (uint8_t)level,
	    .code = code,
	    .gran = ZT_GRAN_DAY,
	    .bucket = from,
	    .direction = 0,
	    .mode = 0};
	struct zt_tkey hi = {.level = (uint8_t)level,
	    .code = code,
	    .gran = ZT_GRAN_DAY,
	    .bucket = to,
	    .direction = ZT_DIR__COUNT - 1,
	    .mode = ZT_MODE__COUNT - 1};
	struct days_arg a = {.cb = cb, .arg = arg};

	return zt_store_scan(r->store, &lo, &hi, day_fn, &a);
}

size_t
zt_reader_zones(const struct zt_reader *r, const struct zt_zone **ret)
{
	return zt_store_zones(r->store, ret);
}

int
zt_reader_total(struct zt_reader *r, int level, uint32_t code, const struct zt_period *p,
    int direction, int mode, struct zt_totals *ret)
{
	struct zt_tkey k = {.level = (uint8_t)level,
	    .code = code,
	    .gran = p->gran,
	    .bucket = p->bucket,
	    .direction = (uint8_t)direction,
	    .mode = (uint8_t)mode};

	return zt_store_get(r->store, &k, ret);
}
