/*
 * test_clients_lib.c: libzonetally's pure parts, as a usage example: event ids, hex, NDJSON
 * lines (good and malformed), yuan formatting, periods, and the generator's determinism and
 * mix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zonetally.h"
#include "zonetally.pb-c.h"

/* ---- event ids ---- */

static void
eventid_time_prefix(void **state)
{
	uint8_t a[16], b[16];
	const char *ln = "330122111E0000001A";

	(void)state;
	zt_eventid_from_list_no(0x0184667a5e40LL, ln, strlen(ln), a);
	assert_int_equal(a[0], 0x01);
	assert_int_equal(a[1], 0x84);
	assert_int_equal(a[2], 0x66);
	assert_int_equal(a[5], 0x40);
	/* a later time sorts later, whatever the hash */
	zt_eventid_from_list_no(0x0184667a5e41LL, "another list no..", 17, b);
	assert_true(memcmp(a, b, 16) < 0);
}

static void
eventid_deterministic(void **state)
{
	uint8_t a[16], b[16], c[16];

	(void)state;
	zt_eventid_from_list_no(1668155400000LL, "290120221100000001", 18, a);
	zt_eventid_from_list_no(1668155400000LL, "290120221100000001", 18, b);
	zt_eventid_from_list_no(1668155400000LL, "290120221100000002", 18, c);
	assert_memory_equal(a, b, 16);
	assert_memory_not_equal(a, c, 16);
	assert_memory_equal(a, c, 6); /* same time prefix */
}

static void
eventid_uuidv7(void **state)
{
	uint8_t rnd[10], id[16];

	(void)state;
	memset(rnd, 0xff, sizeof(rnd));
	zt_eventid_uuidv7(1668155400000LL, rnd, id);
	assert_int_equal(id[6] >> 4, 7);
	assert_int_equal(id[8] >> 6, 2);
	memset(rnd, 0, sizeof(rnd));
	zt_eventid_uuidv7(1668155400000LL, rnd, id);
	assert_int_equal(id[6], 0x70);
	assert_int_equal(id[8], 0x80);
	assert_int_equal(id[0], 0x01);
}

static void
hex_round_trip(void **state)
{
	uint8_t in[16], out[16];
	char text[33];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 16; i++)
		in[i] = (uint8_t)(i * 17 + 3);
	zt_hex_encode(in, 16, text);
	assert_int_equal(strlen(text), 32);
	assert_int_equal(zt_hex_decode(text, 32, out, sizeof(out), &n), 0);
	assert_int_equal(n, 16);
	assert_memory_equal(in, out, 16);
	assert_int_equal(zt_hex_decode("ABcd", 4, out, sizeof(out), &n), 0);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0xcd);
}

static void
hex_bad(void **state)
{
	uint8_t out[4];
	size_t n = 99;

	(void)state;
	assert_int_equal(zt_hex_decode("abc", 3, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(zt_hex_decode("zz", 2, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(zt_hex_decode("0011223344", 10, out, sizeof(out), &n), -E2BIG);
	assert_int_equal(n, 99); /* untouched on failure */
}

/* ---- NDJSON ---- */

static int
parse(const char *line, struct zt_wire *w, char *err)
{
	return zt_ndjson_parse(line, strlen(line), w, err, 256);
}

static void
ndjson_good(void **state)
{
	struct zt_wire w;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse("{\"event_id\":\"0184667a5e4000000000000000000001\","
	                       "\"publisher_id\":\"cust-hz\",\"sequence\":12,\"zone_code\":330100,"
	                       "\"direction\":\"EXPORT\",\"mode\":\"9610\",\"value_fen\":12345,"
	                       "\"item_count\":3,\"declared_at\":\"2022-11-11T16:30:00+08:00\","
	                       "\"hs_code\":\"6109100000\",\"kind\":\"RETURN\","
	                       "\"ref_event_id\":\"0184667a5e4000000000000000000002\"}",
	                     &w, err),
	    1);
	assert_int_equal(w.id_len, 16);
	assert_int_equal(w.id[15], 1);
	assert_string_equal(w.publisher, "cust-hz");
	assert_int_equal(w.sequence, 12);
	assert_int_equal(w.zone, 330100);
	assert_int_equal(w.direction, ZT_DIR_EXPORT);
	assert_int_equal(w.mode, ZT_MODE_9610);
	assert_int_equal(w.value_fen, 12345);
	assert_int_equal(w.items, 3);
	assert_int_equal(w.declared_at_ms, 1668155400000LL);
	assert_string_equal(w.hs_code, "6109100000");
	assert_int_equal(w.kind, ZT_KIND_RETURN);
	assert_int_equal(w.ref_len, 16);
	assert_int_equal(w.has & ZT_W_LIST_NO, 0);
}

static void
ndjson_raw_values(void **state)
{
	struct zt_wire w;
	char err[256] = "";

	(void)state;
	/* a transport, not a validator: unknown enum numbers and odd id lengths pass through */
	assert_int_equal(
	    parse("{\"mode\":7,\"direction\":7,\"event_id\":\"0123456789abcdef\"}", &w, err), 1);
	assert_int_equal(w.mode, 7);
	assert_int_equal(w.direction, 7);
	assert_int_equal(w.id_len, 8);
	assert_int_equal(
	    parse("{\"mode\":1239,\"declared_at\":\"2022-11-10T16:30:00.5Z\"}", &w, err), 1);
	assert_int_equal(w.mode, ZT_MODE_1239);
	assert_int_equal(w.declared_at_ms, 1668097800500LL);
	assert_int_equal(w.has, ZT_W_MODE | ZT_W_TIME);
	assert_int_equal(parse("   ", &w, err), 0);
	assert_int_equal(parse("# comment {", &w, err), 0);
	assert_int_equal(parse("", &w, err), 0);
}

static void
expect_error(const char *line, const char *text)
{
	struct zt_wire w;
	char err[256] = "";

	assert_int_equal(parse(line, &w, err), -EINVAL);
	if (strstr(err, text) == NULL)
		fail_msg("line %s: error '%s' lacks '%s'", line, err, text);
}

static void
ndjson_malformed(void **state)
{
	char long_pub[400];

	(void)state;
	expect_error("{not json", "not JSON");
	expect_error("{\"zone_code\":1", "not JSON");
	expect_error("{\"zone_code\":1} x", "text after the object");
	expect_error("[1,2]", "not a JSON object");
	expect_error("{\"zone_code\":\"hz\"}", "field 'zone_code': expected an integer");
	expect_error("{\"value_fen\":1.5}", "field 'value_fen': expected an integer");
	expect_error("{\"zone_code\":-1}", "field 'zone_code'");
	expect_error("{\"direction\":\"SIDEWAYS\"}", "field 'direction': unknown value");
	expect_error("{\"mode\":\"9999\"}", "field 'mode': unknown value");
	expect_error("{\"declared_at\":\"2022-02-30T00:00:00Z\"}", "not an RFC 3339 time");
	expect_error("{\"declared_at\":\"2022-11-11 16:30\"}", "not an RFC 3339 time");
	expect_error(
	    "{\"declared_at\":\"2022-11-11T16:30:00+08:00\",\"declared_at_ms\":1}", "both");
	expect_error("{\"event_id\":\"xyz\"}", "field 'event_id'");
	expect_error("{\"colour\":\"red\"}", "unknown field 'colour'");
	(void)snprintf(long_pub, sizeof(long_pub), "{\"publisher_id\":\"%0300d\"}", 0);
	expect_error(long_pub, "longer than 255 bytes");
}

static void
wire_pack_absent(void **state)
{
	struct zt_wire w;
	uint8_t buf[ZT_WIRE_MSG_MAX];
	char err[256], topic[ZT_TOPIC_LEN + 1];
	uint64_t seq = 5;
	const uint8_t rnd[10] = {0};

	(void)state;
	assert_int_equal(parse("{\"list_no\":\"290120221100000001\",\"zone_code\":330100,"
	                       "\"declared_at_ms\":1668155400000}",
	                     &w, err),
	    1);
	zt_wire_complete(&w, "pub-a", &seq, rnd);
	assert_int_equal(seq, 6);
	zt_wire_topic(&w, topic);
	assert_string_equal(topic, "ev.330100");
	size_t n = zt_wire_pack(&w, buf);
	Zonetally__V1__TradeEvent *m = zonetally__v1__trade_event__unpack(NULL, n, buf);
	assert_non_null(m);
	assert_true(m->has_event_id);
	assert_int_equal(m->event_id.len, 16);
	uint8_t want[16];
	zt_eventid_from_list_no(1668155400000LL, "290120221100000001", 18, want);
	assert_memory_equal(m->event_id.data, want, 16);
	assert_string_equal(m->publisher_id, "pub-a");
	assert_int_equal(m->sequence, 5);
	assert_false(m->has_direction);
	assert_false(m->has_mode);
	assert_false(m->has_value_fen);
	assert_false(m->has_kind);
	assert_null(m->hs_code);
	zonetally__v1__trade_event__free_unpacked(m, NULL);
}

/*
 * A rejection's detail is derived from whatever a peer sent: every reason, with the extreme
 * times and values a hostile event can carry, gives a terminated text and never overflows
 * (UBSan found INT64_MAX + the CST offset here).
 */
static void
reject_detail_extremes(void **state)
{
	const int64_t times[] = {INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 0, -1,
	    1668155400000LL, 253402300799999LL, -62135596800001LL};
	const int64_t values[] = {INT64_MAX, INT64_MIN, -1, 0};
	const struct zt_reject_ctx ctx = {.watermark_ms = INT64_MAX,
	    .dedup_window_days = 36600,
	    .now_ms = INT64_MIN,
	    .future_tolerance_ms = INT64_MAX,
	    .max_value_fen = INT64_MAX};
	char err[256], det[ZT_REJECT_DETAIL_LEN];
	uint64_t seq = 1;
	const uint8_t rnd[10] = {0};

	(void)state;
	for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++)
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			struct zt_wire w;
			uint8_t buf[ZT_WIRE_MSG_MAX];
			assert_int_equal(parse("{\"list_no\":\"290120221100000001\",\"zone_code\":"
			                       "330100,\"declared_at_ms\":1668155400000}",
			                     &w, err),
			    1);
			zt_wire_complete(&w, "pub-a", &seq, rnd);
			w.declared_at_ms = times[t];
			w.value_fen = values[v];
			size_t n = zt_wire_pack(&w, buf);
			for (int r = 0; r < ZT_REJECT__COUNT; r++) {
				size_t len = zt_reject_detail(r, buf, n, n, &ctx, det, sizeof(det));
				assert_int_equal(len, strlen(det));
				(void)zt_reject_detail(r, buf, n, n, NULL, det, sizeof(det));
			}
		}
	size_t len = zt_reject_detail(ZT_REJECT_TOO_OLD, NULL, 0, 0, &ctx, det, sizeof(det));
	assert_int_equal(len, strlen(det));
}

/* ---- formatting and periods ---- */

static void
yuan(void **state)
{
	char b[ZT_YUAN_LEN];

	(void)state;
	zt_fmt_yuan(0, b);
	assert_string_equal(b, "0.00");
	zt_fmt_yuan(5, b);
	assert_string_equal(b, "0.05");
	zt_fmt_yuan(-5, b);
	assert_string_equal(b, "-0.05");
	zt_fmt_yuan(99999, b);
	assert_string_equal(b, "999.99");
	zt_fmt_yuan(100000, b);
	assert_string_equal(b, "1,000.00");
	zt_fmt_yuan(123456789, b);
	assert_string_equal(b, "1,234,567.89");
	zt_fmt_yuan(-100000000, b);
	assert_string_equal(b, "-1,000,000.00");
	zt_fmt_yuan(INT64_MAX, b);
	assert_string_equal(b, "92,233,720,368,547,758.07");
	zt_fmt_yuan(INT64_MIN, b);
	assert_string_equal(b, "-92,233,720,368,547,758.08");
	zt_fmt_count(1000, b);
	assert_string_equal(b, "1,000");
	zt_fmt_count(999, b);
	assert_string_equal(b, "999");
	zt_fmt_ucount(UINT64_MAX, b); /* a u64 counter is never shown negative */
	assert_string_equal(b, "18,446,744,073,709,551,615");
	zt_fmt_ucount(0, b);
	assert_string_equal(b, "0");
}

static void
widths(void **state)
{
	(void)state;
	assert_int_equal(zt_fmt_width("Hangzhou"), 8);
	assert_int_equal(zt_fmt_width("杭州市"), 6);
	assert_int_equal(zt_fmt_width("海南岛(全岛)"), 12);
	assert_int_equal(zt_fmt_width("海南岛（全岛）"), 14);
	assert_int_equal(zt_fmt_width(""), 0);
	/* a name wider than its column is cut with an ellipsis, never inside a character */
	char out[64];
	assert_int_equal(zt_fmt_fit("Hangzhou", 8, out, sizeof(out)), 8);
	assert_string_equal(out, "Hangzhou");
	assert_int_equal(zt_fmt_fit("Hangzhou", 5, out, sizeof(out)), 5);
	assert_string_equal(out, "Hang\u2026");
	assert_int_equal(zt_fmt_fit("杭州市", 4, out, sizeof(out)), 3);
	assert_string_equal(out, "杭\u2026");
	/* a wide character that does not fit whole leaves its column empty */
	assert_int_equal(zt_fmt_fit("Xilingol League 锡林郭勒盟", 20, out, sizeof(out)), 19);
	assert_string_equal(out, "Xilingol League 锡\u2026");
}

static void
periods(void **state)
{
	struct zt_period p;
	char b[16];

	(void)state;
	assert_int_equal(zt_period_parse(ZT_GRAN_DAY, "2024-02-29", &p), 0);
	assert_int_equal(p.bucket, 20240229);
	assert_int_equal(zt_period_parse(ZT_GRAN_DAY, "2023-02-29", &p), -EINVAL);
	assert_int_equal(zt_period_parse(ZT_GRAN_DAY, "2022-13-01", &p), -EINVAL);
	assert_int_equal(zt_period_parse(ZT_GRAN_DAY, "2022-1-01", &p), -EINVAL);
	assert_int_equal(zt_period_parse(ZT_GRAN_MONTH, "2022-11", &p), 0);
	assert_int_equal(p.bucket, 202211);
	assert_int_equal(zt_period_parse(ZT_GRAN_MONTH, "2022-00", &p), -EINVAL);
	assert_int_equal(zt_period_parse(ZT_GRAN_YEAR, "2022", &p), 0);
	assert_int_equal(p.bucket, 2022);
	assert_int_equal(zt_period_parse(ZT_GRAN_YEAR, "22", &p), -EINVAL);
	assert_int_equal(zt_period_parse(ZT_GRAN_ALL, NULL, &p), 0);
	p = zt_period_day_of(1668097800000LL); /* 16:30Z is 00:30 CST the next day */
	assert_int_equal(zt_period_format(&p, b, sizeof(b)), 10);
	assert_string_equal(b, "2022-11-11");
}

/* ---- generator ---- */

static struct zt_zone *zones;
static size_t nzones;

static int
load_zones(void **state)
{
	size_t line;
	int n = zt_registry_load_file(ZT_TEST_ZONES, &zones, &line);

	(void)state;
	if (n <= 0)
		return -1;
	nzones = (size_t)n;
	return 0;
}

static int
free_zones(void **state)
{
	(void)state;
	free(zones);
	return 0;
}

static struct zt_gen *
gen(uint64_t count, uint64_t seed, double dup, double kind)
{
	struct zt_gen_opts o = {.count = count,
	    .seed = seed,
	    .day = 20221111,
	    .dup_ratio = dup,
	    .kind_mix = kind,
	    .publisher = "gen-test",
	    .start_seq = 1};
	struct zt_gen *g = NULL;

	assert_int_equal(zt_gen_new(&o, zones, nzones, &g), 0);
	return g;
}

static void
gen_deterministic(void **state)
{
	struct zt_gen *a = gen(1000, 42, 0.1, 0.05), *b = gen(1000, 42, 0.1, 0.05);
	struct zt_gen *c = gen(1000, 43, 0.1, 0.05);
	struct zt_wire wa, wb, wc;
	bool differ = false;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(zt_gen_next(a, &wa, NULL), 1);
		assert_int_equal(zt_gen_next(b, &wb, NULL), 1);
		assert_int_equal(zt_gen_next(c, &wc, NULL), 1);
		assert_memory_equal(wa.id, wb.id, 16);
		assert_int_equal(wa.sequence, wb.sequence);
		assert_int_equal(wa.zone, wb.zone);
		assert_int_equal(wa.value_fen, wb.value_fen);
		assert_int_equal(wa.declared_at_ms, wb.declared_at_ms);
		assert_int_equal(wa.mode, wb.mode);
		assert_int_equal(wa.kind, wb.kind);
		differ = differ || memcmp(wa.id, wc.id, 16) != 0;
	}
	assert_true(differ);
	assert_int_equal(zt_gen_next(a, &wa, NULL), 0);
	zt_gen_free(a);
	zt_gen_free(b);
	zt_gen_free(c);
}

struct mix {
	uint64_t n, resends, reversals, value[ZT_DIR__COUNT];
	uint64_t next_seq;
	int64_t last_ms;
	uint8_t last_id[16];
};

/* Checks one generated declaration or reversal. */
static void
check_event(struct mix *m, const struct zt_wire *w)
{
	const struct zt_zone *z = NULL;

	for (size_t i = 0; i < nzones; i++)
		if (zones[i].code == w->zone)
			z = &zones[i];
	assert_non_null(z);
	assert_true(zt_zone_valid_in(z, 2022));
	assert_true(zt_mode_allows(w->mode, w->direction));
	assert_int_equal(zt_cst_day(w->declared_at_ms), 20221111);
	assert_int_equal(w->sequence, m->next_seq++);
	assert_int_equal(w->id_len, 16);
	assert_true(w->value_fen > 0);
	if (w->kind != ZT_KIND_DECLARATION) {
		m->reversals++;
		assert_int_equal(w->ref_len, 16);
		return;
	}
	assert_true(w->items >= 1 && w->items <= 200);
	if (w->direction == ZT_DIR_IMPORT)
		assert_true(w->value_fen <= 500000); /* retail import cap, 5,000 yuan */
	assert_true(w->declared_at_ms >= m->last_ms);
	assert_true(memcmp(w->id, m->last_id, 16) >= 0); /* ids time-ordered */
	m->last_ms = w->declared_at_ms;
	memcpy(m->last_id, w->id, 16);
	m->value[w->direction] += (uint64_t)w->value_fen;
}

static void
gen_mix(void **state)
{
	struct zt_gen *g = gen(100000, 1, 0.1, 0.05);
	struct mix m = {.next_seq = 1};
	struct zt_wire w;
	bool resend;

	(void)state;
	while (zt_gen_next(g, &w, &resend) == 1) {
		m.n++;
		if (resend)
			m.resends++;
		else
			check_event(&m, &w);
	}
	zt_gen_free(g);
	assert_int_equal(m.n, 100000);
	assert_true(m.resends > 9000 && m.resends < 11000);
	assert_true(m.reversals > 3500 && m.reversals < 5000);
	double exp_share = (double)m.value[ZT_DIR_EXPORT] /
	    (double)(m.value[ZT_DIR_EXPORT] + m.value[ZT_DIR_IMPORT]);
	if (exp_share < 0.65 || exp_share > 0.85)
		fail_msg("export share of value %.3f, want about 0.75", exp_share);
}

static void
gen_bad_opts(void **state)
{
	struct zt_gen_opts o = {.count = 1, .day = 20220230, .publisher = "p"};
	struct zt_gen *g = NULL;

	(void)state;
	assert_int_equal(zt_gen_new(&o, zones, nzones, &g), -EINVAL);
	o.day = 20100101; /* no zone was approved yet */
	assert_int_equal(zt_gen_new(&o, zones, nzones, &g), -EINVAL);
	o.day = 20221111;
	o.dup_ratio = 1.5;
	assert_int_equal(zt_gen_new(&o, zones, nzones, &g), -EINVAL);
	assert_null(g);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(eventid_time_prefix),
	    cmocka_unit_test(eventid_deterministic),
	    cmocka_unit_test(eventid_uuidv7),
	    cmocka_unit_test(hex_round_trip),
	    cmocka_unit_test(hex_bad),
	    cmocka_unit_test(ndjson_good),
	    cmocka_unit_test(ndjson_raw_values),
	    cmocka_unit_test(ndjson_malformed),
	    cmocka_unit_test(wire_pack_absent),
	    cmocka_unit_test(reject_detail_extremes),
	    cmocka_unit_test(yuan),
	    cmocka_unit_test(widths),
	    cmocka_unit_test(periods),
	};
	const struct CMUnitTest generator[] = {
	    cmocka_unit_test(gen_deterministic),
	    cmocka_unit_test(gen_mix),
	    cmocka_unit_test(gen_bad_opts),
	};
	int failed = cmocka_run_group_tests(pure, NULL, NULL);

	return failed + cmocka_run_group_tests(generator, load_zones, free_zones);
}
