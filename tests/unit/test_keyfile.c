/*
 * test_keyfile.c: the CURVE key files and allowlist directories (zt_keyfile.h,
 * allowlist.c): well-formed files, every malformed shape refused with its line, the secret
 * key mode check, keygen output, and a directory with good, ignored and bad entries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "daemon.h"
#include "zt_keyfile.h"

/* A valid key pair (any zmq_curve_keypair() output would do). */
#define PUB "ZC!P@o]Z/r9+ln-!&-!Jy#bU5QZUoHkA2C@(9%55"
#define SEC "U8n%2PE/Jko]6.z:c-uTu:t9mq>9{<ZFYnZ%fyn+"

static char dir[] = "/tmp/zt-test-keyfile-XXXXXX";

static int
parse(const char *text, struct zt_keyfile *k, char *err, size_t errlen)
{
	return zt_keyfile_parse(text, strlen(text), k, err, errlen);
}

/* Writes text to dir/name with mode. */
static void
write_file(const char *name, const char *text, mode_t mode)
{
	char path[256];
	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_parse_ok(void **state)
{
	struct zt_keyfile k;
	char err[128];

	(void)state;
	assert_int_equal(parse("# c\n\npublic-key = " PUB "\r\n  zones = 330100  440300\n"
	                       "zones=110100\n",
	                     &k, err, sizeof(err)),
	    0);
	assert_string_equal(k.public_key, PUB);
	assert_string_equal(k.secret_key, "");
	assert_int_equal(k.n_zones, 3);
	assert_int_equal(k.zones[0], 330100);
	assert_int_equal(k.zones[2], 110100);
	assert_int_equal(parse("", &k, err, sizeof(err)), 0);
	assert_int_equal(k.n_zones, 0);
	assert_int_equal(
	    parse("publisher-ids = hz-1  hz.2\npublisher-ids = x_3\n", &k, err, sizeof(err)), 0);
	assert_int_equal(k.n_publisher_ids, 3);
	assert_string_equal(k.publisher_ids[1], "hz.2");
}

static void
test_parse_malformed(void **state)
{
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
	    {"public-key " PUB "\n", "line 1: expected name = value"},
	    {"# ok\npublic-key = short\n", "line 2: a key must be 40"},
	    {"public-key = " PUB "\npublic-key = " PUB "\n", "line 2: the key is given twice"},
	    {"public-key = Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{h I\n", "not valid Z85"},
	    {"owner = me\n", "line 1: unknown name"},
	    {"zones = 33010\n", "6-digit zone codes"},
	    {"zones = 3301000\n", "6-digit zone codes"},
	    {"zones = 330100,440300\n", "6-digit zone codes"},
	    {"zones = 012345\n", "6-digit zone codes"},
	    {"zones = 330100 330100\n", "listed twice"},
	    {"zones = -330100\n", "6-digit zone codes"},
	    {"publisher-ids = hz/1\n", "publisher-ids: expected ids"},
	    {"publisher-ids = a a\n", "listed twice"},
	    {"publisher-ids = .hidden\n", "publisher-ids: expected ids"},
	};
	struct zt_keyfile k;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i].text, &k, err, sizeof(err)), -EINVAL);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("case %zu: error '%s' lacks '%s'", i, err, bad[i].why);
	}
	assert_int_equal(zt_keyfile_parse("public-key\0= x", 14, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUL"));
}

static void
test_too_many_zones(void **state)
{
	size_t n = ZT_KEYFILE_MAX_ZONES + 1, len = 8 + 7 * n + 2;
	char *text = malloc(len), err[128];
	struct zt_keyfile k;

	(void)state;
	assert_non_null(text);
	size_t off = (size_t)snprintf(text, len, "zones =");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, len - off, " %06zu", 100000 + i);
	assert_int_equal(parse(text, &k, err, sizeof(err)), -E2BIG);
	free(text);
}

static void
test_load_secret(void **state)
{
	struct zt_keyfile k;
	char path[256], err[256];

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/s.key", dir);
	write_file("s.key", "public-key = " PUB "\nsecret-key = " SEC "\n", 0644);
	assert_int_equal(zt_keyfile_load(path, true, &k, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(zt_keyfile_load(path, true, &k, err, sizeof(err)), 0);
	assert_string_equal(k.secret_key, SEC);
	write_file("s.key", "public-key = " PUB "\n", 0600);
	assert_int_equal(zt_keyfile_load(path, true, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no secret-key"));
	/* a public key of another pair */
	write_file("s.key", "public-key = " SEC "\nsecret-key = " SEC "\n", 0600);
	assert_int_equal(zt_keyfile_load(path, true, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not belong"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(zt_keyfile_load(path, true, &k, err, sizeof(err)), -ENOENT);
}

static void
test_generate(void **state)
{
	char pub[ZT_KEY_Z85_LEN + 1], path[256], err[256];
	struct zt_keyfile k;
	struct stat st;

	(void)state;
	assert_int_equal(zt_keyfile_generate(dir, "gen", pub), 0);
	assert_int_equal(zt_keyfile_generate(dir, "gen", pub), -EEXIST);
	assert_int_equal(zt_keyfile_generate(dir, "../x", pub), -EINVAL);
	(void)snprintf(path, sizeof(path), "%s/gen.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(zt_keyfile_load(path, true, &k, err, sizeof(err)), 0);
	assert_string_equal(k.public_key, pub);
	assert_int_equal(unlink(path), 0);
	(void)snprintf(path, sizeof(path), "%s/gen.pub", dir);
	assert_int_equal(zt_keyfile_load(path, false, &k, err, sizeof(err)), 0);
	assert_string_equal(k.public_key, pub);
	assert_int_equal(unlink(path), 0);
}

/* A directory of publishers: good entries, ignored files, then each bad one in turn. */
static void
test_allowlist(void **state)
{
	struct zt_allowlist *a = NULL;
	char err[512], path[256];

	(void)state;
	write_file(
	    "hz.pub", "public-key = " PUB "\nzones = 330100 330200\npublisher-ids = hz-1\n", 0644);
	write_file("README", "not a key file\n", 0644);
	write_file(".hidden.pub", "garbage\n", 0644);
	write_file("hz.pub~", "garbage\n", 0644);
	assert_int_equal(zt_allowlist_load(dir, true, &a, err, sizeof(err)), 0);
	assert_int_equal(a->n, 1);
	const struct zt_allow_entry *e = zt_allowlist_by_name(a, "hz");
	assert_non_null(e);
	assert_true(zt_allowlist_zone_ok(e, 330200));
	assert_false(zt_allowlist_zone_ok(e, 440300));
	assert_null(zt_allowlist_by_name(a, "gz"));
	assert_false(zt_allowlist_zone_ok(NULL, 330100));
	assert_true(zt_allowlist_publisher_ok(e, "hz"));
	assert_true(zt_allowlist_publisher_ok(e, "hz-1"));
	assert_false(zt_allowlist_publisher_ok(e, "gz"));
	assert_false(zt_allowlist_publisher_ok(NULL, "hz"));
	uint8_t key[32];
	assert_non_null(zmq_z85_decode(key, PUB));
	assert_ptr_equal(zt_allowlist_by_key(a, key), e);
	a = zt_allowlist_free(a);
	assert_null(a);
	/* a reader list refuses zones; a publisher list needs them */
	assert_int_equal(zt_allowlist_load(dir, false, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not readers"));
	write_file("gz.pub", "public-key = " SEC "\n", 0644);
	assert_int_equal(zt_allowlist_load(dir, true, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gz.pub: no zones"));
	write_file("gz.pub", "public-key = " PUB "\nzones = 440100\n", 0644);
	assert_int_equal(zt_allowlist_load(dir, true, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the same key"));
	write_file("gz.pub", "public-key = " SEC "\nsecret-key = " SEC "\nzones = 440100\n", 0600);
	assert_int_equal(zt_allowlist_load(dir, true, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "never NAME.key"));
	write_file("gz.pub", "zones = 440100\n", 0644);
	assert_int_equal(zt_allowlist_load(dir, true, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no public-key"));
	write_file("gz.pub", "public-key = " SEC "\nzones = 440100\n", 0644);
	assert_int_equal(zt_allowlist_load(dir, true, &a, err, sizeof(err)), 0);
	assert_int_equal(a->n, 2);
	assert_string_equal(a->e[0].name, "gz"); /* sorted by name */
	a = zt_allowlist_free(a);
	static const char *const files[] = {"hz.pub", "gz.pub", "README", ".hidden.pub", "hz.pub~"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		assert_int_equal(unlink(path), 0);
	}
	/* a missing directory is an empty list: every key is refused */
	(void)snprintf(path, sizeof(path), "%s/none.d", dir);
	assert_int_equal(zt_allowlist_load(path, true, &a, err, sizeof(err)), 0);
	assert_int_equal(a->n, 0);
	a = zt_allowlist_free(a);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_too_many_zones),
	    cmocka_unit_test(test_load_secret),
	    cmocka_unit_test(test_generate),
	    cmocka_unit_test(test_allowlist),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
