/*
 * cmd_keys.c: the CURVE keys from the operator's side. `zonetally keygen NAME [--dir DIR]`
 * writes a key pair for the daemon or for one client: NAME.key (public + secret, mode 0600)
 * and NAME.pub (the public key, which goes into the daemon's allowlist directory, or to the
 * clients for the daemon's own pair). check_security() lets `check-config` load the key
 * files and allowlists the way the daemon will, before a restart finds them broken.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "zt_config.h"
#include "zt_keyfile.h"

/* Loads one allowlist directory to check it. */
static int
check_dir(const char *config_path, const char *dir, bool publishers, char *err, size_t errlen)
{
	char path[4096];
	struct zt_allowlist *a = NULL;
	int r = zt_keyfile_resolve(config_path, dir, path, sizeof(path));

	if (r < 0) {
		(void)snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	r = zt_allowlist_load(path, publishers, &a, err, errlen);
	(void)zt_allowlist_free(a);
	return r;
}

/* The API token file, with the daemon's own checks (zt_token_load()). */
static int
check_token(const char *config_path, const struct zt_config *c, char *err, size_t errlen)
{
	char path[4096], token[ZT_TOKEN_MAX + 2];
	size_t len;
	int r;

	if (c->api_token_file[0] == '\0')
		return 0;
	if ((r = zt_keyfile_resolve(config_path, c->api_token_file, path, sizeof(path))) < 0) {
		(void)snprintf(err, errlen, "%s: %s", c->api_token_file, strerror(-r));
		return r;
	}
	r = zt_token_load(path, token, sizeof(token), &len, err, errlen);
	explicit_bzero(token, sizeof(token));
	return r;
}

int
check_security(const char *config_path, const struct zt_config *c, char *err, size_t errlen)
{
	char path[4096];
	struct zt_keyfile k;
	int r;

	if ((r = check_token(config_path, c, err, errlen)) < 0)
		return r;
	if (c->curve_secret_key_file[0] == '\0')
		return 0;
	if ((r = zt_keyfile_resolve(config_path, c->curve_secret_key_file, path, sizeof(path))) <
	    0) {
		(void)snprintf(err, errlen, "%s: %s", c->curve_secret_key_file, strerror(-r));
		return r;
	}
	if ((r = zt_keyfile_load(path, true, &k, err, errlen)) < 0)
		return r;
	explicit_bzero(&k, sizeof(k));
	if ((r = check_dir(config_path, c->authorized_dir, true, err, errlen)) < 0)
		return r;
	return check_dir(config_path, c->readers_dir, false, err, errlen);
}

int
cmd_keygen(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	char pub[ZT_KEY_Z85_LEN + 1];
	const char *dir = ".";
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != 'd')
			return option_error(c, opt, argv);
		dir = optarg;
	}
	if (optind != argc - 1)
		return usage_error(c->cmd, "expected one NAME");
	const char *name = argv[optind];
	if (!zt_key_name_ok(name))
		return usage_error(c->cmd, "NAME '%s': expected 1..64 of A-Z a-z 0-9 . _ -", name);
	int r = zt_keyfile_generate(dir, name, pub);
	if (r < 0) {
		(void)fprintf(stderr, "zonetally keygen: %s/%s.{key,pub}: %s\n", dir, name,
		    r == -EEXIST ? "already exists; nothing was overwritten" : strerror(-r));
		return EXIT_FAILURE;
	}
	(void)printf("%s/%s.key  secret, mode 0600: stays with '%s'\n", dir, name, name);
	(void)printf("%s/%s.pub  public key %s\n", dir, name, pub);
	return fflush(stdout) == 0 ? 0 : EXIT_FAILURE;
}
