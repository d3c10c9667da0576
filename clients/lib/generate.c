/*
 * generate.c: the synthetic day of cross-border e-commerce that `zonetally-pub --generate`
 * sends: time-ordered declarations over the zones valid that year, weighted towards the big
 * zones, with the 2022 mix of direction and mode (exports about three quarters of the value),
 * plus optional exact resends and reversals drawn from a bounded ring of recent events, so
 * memory does not grow with the count.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zonetally.h"

#define RING   1024u /* recent events kept for resends and reversals */
#define DAY_MS 86400000LL

/* Relative weights of the largest zones; every other valid zone weighs TAIL_WEIGHT. */
static const struct {
	uint32_t code;
	uint32_t weight;
} big_zones[] = {
    {440300, 140},
    {440100, 120},
    {441900, 100},
    {330100, 90},
    {330200, 60},
    {330700, 30},
    {330782, 30},
    {310100, 50},
    {350200, 30},
    {370200, 30},
    {410100, 30},
    {120100, 20},
    {500100, 20},
    {320500, 20},
    {420100, 15},
    {510100, 15},
};
#define TAIL_WEIGHT 2u

/* Per-10000 mode mix by direction. B2B export is rare but large: it lifts exports to about
 * three quarters of the value while retail dominates the counts. */
static const struct {
	uint8_t mode;
	uint16_t per10k;
} import_modes[] = {{ZT_MODE_9610, 5000}, {ZT_MODE_1210, 3500}, {ZT_MODE_1239, 1500}},
  export_modes[] = {
      {ZT_MODE_9610, 8840}, {ZT_MODE_1210, 1100}, {ZT_MODE_9710, 40}, {ZT_MODE_9810, 20}};
#define EXPORT_PER10K 6500

static const char *const hs_codes[] = {"6109100000", "6204430000", "6403990000", "8517130000",
    "3304990099", "8471300000", "9503008900", "4202221000", "2106909090", "1901101000",
    "8509800000", "6110200099", "3401300000", "8518300000", "9102190000", "0402210000"};

struct slot {
	struct zt_wire w;
	bool reversed; /* a declaration that a reversal already took */
};

struct zt_gen {
	struct zt_gen_opts o;
	uint64_t s[4]; /* xoshiro256** state */
	uint32_t *codes;
	uint64_t *cum; /* cumulative weights, parallel to codes */
	size_t ncodes;
	int64_t day_ms;
	uint64_t made;    /* messages produced */
	uint64_t resends; /* of them, copies of an earlier message */
	int64_t span_ms;  /* the events lie in [day_ms, day_ms + span_ms) */
	uint64_t seq;     /* next sequence */
	uint64_t list;    /* next list number counter */
	struct slot *ring;
	uint64_t nring; /* events ever put in the ring */
};

/* xoshiro256**: fast, and good enough for a workload. */
static uint64_t
rnd(struct zt_gen *g)
{
	uint64_t *s = g->s, r = s[1] * 5, t = s[1] << 17;

	r = (r << 7 | r >> 57) * 9;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = s[3] << 45 | s[3] >> 19;
	return r;
}

/* Uniform in [0, 1). */
static double
unif(struct zt_gen *g)
{
	return (double)(rnd(g) >> 11) * 0x1.0p-53;
}

/* Log-uniform in [lo, hi), for values spread over orders of magnitude. */
static double
logu(struct zt_gen *g, double lo, double hi)
{
	return lo * exp(unif(g) * log(hi / lo));
}

static uint32_t
weight_of(uint32_t code)
{
	for (size_t i = 0; i < sizeof(big_zones) / sizeof(big_zones[0]); i++)
		if (big_zones[i].code == code)
			return big_zones[i].weight;
	return TAIL_WEIGHT;
}

/* Builds the weighted table of the zones valid in `year`. */
static int
build_zones(struct zt_gen *g, const struct zt_zone *zones, size_t n, uint32_t year)
{
	uint64_t total = 0;

	g->codes = calloc(n > 0 ? n : 1, sizeof(*g->codes));
	g->cum = calloc(n > 0 ? n : 1, sizeof(*g->cum));
	if (g->codes == NULL || g->cum == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!zt_zone_valid_in(&zones[i], year))
			continue;
		total += weight_of(zones[i].code);
		g->codes[g->ncodes] = zones[i].code;
		g->cum[g->ncodes++] = total;
	}
	return g->ncodes > 0 ? 0 : -EINVAL;
}

static uint32_t
pick_zone(struct zt_gen *g)
{
	uint64_t x = rnd(g) % g->cum[g->ncodes - 1];
	size_t lo = 0, hi = g->ncodes - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return g->codes[lo];
}

static uint8_t
pick_mode(struct zt_gen *g, bool export)
{
	uint64_t x = rnd(g) % 10000;
	size_t n = export ? 4 : 3;

	for (size_t i = 0; i < n; i++) {
		uint16_t p = export ? export_modes[i].per10k : import_modes[i].per10k;
		if (x < p)
			return export ? export_modes[i].mode : import_modes[i].mode;
		x -= p;
	}
	return ZT_MODE_9610;
}

/* Value in fen: retail mostly 50-2,000 yuan (import capped at 5,000), B2B 1,000-500,000. */
static int64_t
pick_value(struct zt_gen *g, uint8_t mode, bool export)
{
	double yuan;

	if (mode == ZT_MODE_9710 || mode == ZT_MODE_9810)
		yuan = logu(g, 1000.0, 500000.0);
	else if (unif(g) < 0.9)
		yuan = logu(g, 50.0, 2000.0);
	else
		yuan = logu(g, 2000.0, export ? 8000.0 : 5000.0);
	return (int64_t)(yuan * 100.0);
}

/* The 18-character invtNo: 4 digits of the zone, YYMMDD, I/E, a 7-character counter. */
static void
make_list_no(struct zt_gen *g, uint32_t zone, bool export, char out[ZT_LIST_NO_MAX + 1])
{
	static const char b36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	uint64_t c = g->list++;
	char ctr[8];

	for (int i = 6; i >= 0; i--, c /= 36)
		ctr[i] = b36[c % 36];
	ctr[7] = '\0';
	(void)snprintf(out, ZT_LIST_NO_MAX + 1, "%04u%06u%c%s", zone / 100 % 10000,
	    g->o.day % 1000000, export ? 'E' : 'I', ctr);
}

/* Fills the id: 16 random bytes (benchmarks) or derived from the list number. */
static void
make_id(struct zt_gen *g, struct zt_wire *w)
{
	if (g->o.random_ids) {
		uint64_t a = rnd(g), b = rnd(g);
		for (int i = 0; i < 8; i++) {
			w->id[i] = (uint8_t)(a >> (8 * i));
			w->id[8 + i] = (uint8_t)(b >> (8 * i));
		}
	} else {
		zt_eventid_from_list_no(w->declared_at_ms, w->list_no, strlen(w->list_no), w->id);
	}
	w->id_len = ZT_EVENT_ID_LEN;
}

/* A new declaration at time t. */
static void
declaration(struct zt_gen *g, int64_t t, struct zt_wire *w)
{
	bool export = rnd(g) % 10000 < EXPORT_PER10K;
	uint8_t mode = pick_mode(g, export);
	bool b2b = mode == ZT_MODE_9710 || mode == ZT_MODE_9810;

	memset(w, 0, offsetof(struct zt_wire, publisher));
	w->has = ZT_W_EVENT_ID | ZT_W_PUBLISHER | ZT_W_SEQUENCE | ZT_W_ZONE | ZT_W_DIRECTION |
	    ZT_W_MODE | ZT_W_VALUE | ZT_W_ITEMS | ZT_W_TIME | ZT_W_HS_CODE | ZT_W_LIST_NO;
	w->zone = pick_zone(g);
	w->direction = export ? ZT_DIR_EXPORT : ZT_DIR_IMPORT;
	w->mode = mode;
	w->kind = ZT_KIND_DECLARATION;
	w->value_fen = pick_value(g, mode, export);
	w->items = (uint32_t)(1 + rnd(g) % (b2b ? 200 : 20));
	w->declared_at_ms = t;
	(void)snprintf(w->hs_code, sizeof(w->hs_code), "%s",
	    hs_codes[rnd(g) % (sizeof(hs_codes) / sizeof(hs_codes[0]))]);
	make_list_no(g, w->zone, export, w->list_no);
	make_id(g, w);
}

/* Turns w, a copy of a declaration, into its cancellation or return. */
static void
reversal(struct zt_gen *g, struct zt_wire *w)
{
	bool cancel = rnd(g) % 2 == 0;
	size_t n = strlen(w->list_no);

	memcpy(w->ref_id, w->id, ZT_EVENT_ID_LEN);
	w->ref_len = ZT_EVENT_ID_LEN;
	w->has |= ZT_W_KIND | ZT_W_REF_ID;
	w->kind = cancel ? ZT_KIND_CANCELLATION : ZT_KIND_RETURN;
	/* Its own id: the original's list number marked C or R, at the original's time. */
	if (n + 1 < sizeof(w->list_no)) {
		w->list_no[n] = cancel ? 'C' : 'R';
		w->list_no[n + 1] = '\0';
	}
	make_id(g, w);
}

/* A random ring slot holding a declaration not reversed yet, or NULL. */
static struct slot *
reversible(struct zt_gen *g)
{
	uint64_t have = g->nring < RING ? g->nring : RING;

	if (have == 0)
		return NULL;
	struct slot *s = &g->ring[rnd(g) % have];
	if (s->reversed || (s->w.has & ZT_W_KIND))
		return NULL;
	s->reversed = true;
	return s;
}

/* Time of message i: spread over the day, never decreasing. */
static int64_t
time_of(struct zt_gen *g, uint64_t i)
{
	double step = (double)g->span_ms / (double)g->o.count;
	int64_t off = (int64_t)(((double)i + unif(g)) * step);

	return g->day_ms + (off < g->span_ms ? off : g->span_ms - 1);
}

static void
remember(struct zt_gen *g, const struct zt_wire *w)
{
	if (g->ring == NULL)
		return;
	struct slot *s = &g->ring[g->nring++ % RING];
	s->w = *w;
	s->reversed = false;
}

int
zt_gen_next(struct zt_gen *g, struct zt_wire *ret, bool *ret_resend)
{
	struct slot *orig;
	bool resend = false;

	if (g->made >= g->o.count)
		return 0;
	int64_t t = time_of(g, g->made++);
	if (g->nring > 0 && g->o.dup_ratio > 0 && unif(g) < g->o.dup_ratio) {
		uint64_t have = g->nring < RING ? g->nring : RING;
		*ret = g->ring[rnd(g) % have].w;
		resend = true;
		g->resends++;
	} else {
		if (g->o.kind_mix > 0 && unif(g) < g->o.kind_mix &&
		    (orig = reversible(g)) != NULL) {
			*ret = orig->w;
			reversal(g, ret);
		} else {
			declaration(g, t, ret);
		}
		(void)snprintf(ret->publisher, sizeof(ret->publisher), "%s", g->o.publisher);
		ret->sequence = g->seq++;
		remember(g, ret);
	}
	if (ret_resend != NULL)
		*ret_resend = resend;
	return 1;
}

uint64_t
zt_gen_resends(const struct zt_gen *g)
{
	return g->resends;
}

struct zt_gen *
zt_gen_free(struct zt_gen *g)
{
	if (g == NULL)
		return NULL;
	free(g->codes);
	free(g->cum);
	free(g->ring);
	free(g);
	return NULL;
}

int
zt_gen_new(
    const struct zt_gen_opts *o, const struct zt_zone *zones, size_t nzones, struct zt_gen **ret)
{
	struct zt_gen *g;
	int r;

	if (!zt_date_valid(o->day) || !(o->dup_ratio >= 0 && o->dup_ratio <= 1) ||
	    !(o->kind_mix >= 0 && o->kind_mix <= 1) || o->publisher == NULL ||
	    o->publisher[0] == '\0')
		return -EINVAL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -ENOMEM;
	g->o = *o;
	g->day_ms = zt_cst_day_start_ms(o->day);
	/* today: up to now, so that no event lies in the future (future_time) */
	g->span_ms = o->until_ms > g->day_ms && o->until_ms - g->day_ms < DAY_MS
	    ? o->until_ms - g->day_ms
	    : DAY_MS;
	g->seq = o->start_seq;
	uint64_t x = o->seed;
	for (int i = 0; i < 4; i++) {
		/* splitmix64 expands the seed into the xoshiro state */
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		g->s[i] = z ^ (z >> 31);
	}
	if ((o->dup_ratio > 0 || o->kind_mix > 0) &&
	    (g->ring = calloc(RING, sizeof(*g->ring))) == NULL) {
		zt_gen_free(g);
		return -ENOMEM;
	}
	if ((r = build_zones(g, zones, nzones, o->day / 10000)) < 0) {
		zt_gen_free(g);
		return r;
	}
	*ret = g;
	return 0;
}
