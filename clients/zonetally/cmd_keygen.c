/*
 * cmd_keygen.c: `zonetally keygen NAME [--dir DIR]`: a CURVE key pair for the daemon or for
 * one client: NAME.key (public + secret, mode 0600) and NAME.pub (the public key, which goes
 * into the daemon's allowlist directory, or to the clients for the daemon's own pair).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "zt_keyfile.h"

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
			return usage_error(c->cmd, "invalid option");
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
