/*
 * keyfile.c: reads, checks and writes CURVE key files (format in zt_keyfile.h). One parser
 * for the daemon and the clients, so that a file `zonetally keygen` writes is read the same
 * way everywhere.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "zt_keyfile.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

bool
zt_key_z85_ok(const char *s)
{
	uint8_t bin[32];

	/* zmq_z85_decode checks the alphabet and the length (a multiple of 5) */
	return strlen(s) == ZT_KEY_Z85_LEN && zmq_z85_decode(bin, s) != NULL;
}

bool
zt_key_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64 || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	    n;
}

/* Trims spaces and tabs at both ends of [*s, *s + *n). */
static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
		(*n)--;
}

/* Appends the space-separated 6-digit zone codes of v to k. */
static int
add_zones(struct zt_keyfile *k, const char *v, size_t n, const char **why)
{
	size_t i = 0;

	while (i < n) {
		size_t len = 0;
		uint32_t code = 0;
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, len++)
			code = code * 10 + (uint32_t)(v[i] - '0');
		if (len == 0 && i == n)
			break;
		if (len != 6 || (i < n && v[i] != ' ' && v[i] != '\t') || code < 100000) {
			*why = "zones: expected 6-digit zone codes separated by spaces";
			return -EINVAL;
		}
		for (size_t j = 0; j < k->n_zones; j++)
			if (k->zones[j] == code) {
				*why = "zones: a zone code is listed twice";
				return -EINVAL;
			}
		if (k->n_zones == ZT_KEYFILE_MAX_ZONES) {
			*why = "zones: too many zone codes";
			return -E2BIG;
		}
		k->zones[k->n_zones++] = code;
	}
	return 0;
}

/* Appends the space-separated publisher ids of v to k. */
static int
add_ids(struct zt_keyfile *k, const char *v, size_t n, const char **why)
{
	for (size_t i = 0, len; i < n; i += len) {
		char id[ZT_KEY_NAME_MAX + 2];
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		for (len = 0; i + len < n && v[i + len] != ' ' && v[i + len] != '\t'; len++)
			;
		if (len == 0)
			break;
		(void)snprintf(
		    id, sizeof(id), "%.*s", (int)(len < sizeof(id) ? len : sizeof(id) - 1), v + i);
		if (len > ZT_KEY_NAME_MAX || !zt_key_name_ok(id)) {
			*why = "publisher-ids: expected ids of 1..64 of A-Z a-z 0-9 . _ -";
			return -EINVAL;
		}
		for (size_t j = 0; j < k->n_publisher_ids; j++)
			if (strcmp(k->publisher_ids[j], id) == 0) {
				*why = "publisher-ids: an id is listed twice";
				return -EINVAL;
			}
		if (k->n_publisher_ids == ZT_KEYFILE_MAX_IDS) {
			*why = "publisher-ids: too many ids";
			return -E2BIG;
		}
		memcpy(k->publisher_ids[k->n_publisher_ids++], id, len + 1);
	}
	return 0;
}

/* Stores a Z85 key value once. */
static int
set_key(char *field, const char *v, size_t n, const char **why)
{
	if (field[0] != '\0') {
		*why = "the key is given twice";
		return -EINVAL;
	}
	if (n != ZT_KEY_Z85_LEN) {
		*why = "a key must be 40 Z85 characters";
		return -EINVAL;
	}
	memcpy(field, v, n);
	field[n] = '\0';
	if (!zt_key_z85_ok(field)) {
		field[0] = '\0';
		*why = "the key is not valid Z85";
		return -EINVAL;
	}
	return 0;
}

/* One "name = value" line. */
static int
parse_line(struct zt_keyfile *k, const char *s, size_t n, const char **why)
{
	const char *eq = memchr(s, '=', n);

	if (eq == NULL) {
		*why = "expected name = value";
		return -EINVAL;
	}
	const char *name = s, *v = eq + 1;
	size_t nlen = (size_t)(eq - s), vlen = n - nlen - 1;
	trim(&name, &nlen);
	trim(&v, &vlen);
	if (nlen == 10 && memcmp(name, "public-key", 10) == 0)
		return set_key(k->public_key, v, vlen, why);
	if (nlen == 10 && memcmp(name, "secret-key", 10) == 0)
		return set_key(k->secret_key, v, vlen, why);
	if (nlen == 5 && memcmp(name, "zones", 5) == 0)
		return add_zones(k, v, vlen, why);
	if (nlen == 13 && memcmp(name, "publisher-ids", 13) == 0)
		return add_ids(k, v, vlen, why);
	*why = "unknown name (expected public-key, secret-key, zones or publisher-ids)";
	return -EINVAL;
}

int
zt_keyfile_parse(const char *text, size_t len, struct zt_keyfile *ret, char *err, size_t errlen)
{
	struct zt_keyfile k = {0};
	const char *why = NULL;
	size_t line = 0;

	for (size_t i = 0; i < len;) {
		const char *s = text + i, *nl = memchr(s, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - i;
		i += n + 1;
		line++;
		if (memchr(s, '\0', n) != NULL) {
			seterr(err, errlen, "line %zu: NUL byte", line);
			return -EINVAL;
		}
		trim(&s, &n);
		if (n == 0 || s[0] == '#')
			continue;
		int r = parse_line(&k, s, n, &why);
		if (r < 0) {
			seterr(err, errlen, "line %zu: %s", line, why);
			return r;
		}
	}
	*ret = k;
	return 0;
}

/* Reads at most ZT_KEYFILE_MAX_BYTES of an open file; checks the mode of a secret one. */
static int
read_key_fd(int fd, bool secret, char *buf, size_t *len, const char **why)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		return -EINVAL;
	}
	if (secret && (st.st_mode & 077) != 0) {
		*why = "secret key file is accessible by group or others; chmod 600 it";
		return -EPERM;
	}
	if (st.st_size > ZT_KEYFILE_MAX_BYTES) {
		*why = "file too large for a key file";
		return -EFBIG;
	}
	ssize_t n = read(fd, buf, ZT_KEYFILE_MAX_BYTES);
	if (n < 0)
		return -errno;
	*len = (size_t)n;
	return 0;
}

/* Whether the public key of a key pair file belongs to its secret key. */
static bool
pair_matches(const struct zt_keyfile *k)
{
	char pub[ZT_KEY_Z85_LEN + 1];

	return zmq_curve_public(pub, k->secret_key) == 0 && strcmp(pub, k->public_key) == 0;
}

/* What a loaded file must hold: a public key; a secret one too, and the pair must match. */
static const char *
missing(const struct zt_keyfile *k, bool secret)
{
	if (k->public_key[0] == '\0')
		return "no public-key";
	if (secret && k->secret_key[0] == '\0')
		return "no secret-key";
	if (secret && !pair_matches(k))
		return "public-key does not belong to secret-key";
	return NULL;
}

int
zt_keyfile_load(const char *path, bool secret, struct zt_keyfile *ret, char *err, size_t errlen)
{
	char perr[128] = "", *buf = malloc(ZT_KEYFILE_MAX_BYTES);
	const char *why = NULL;
	struct zt_keyfile k;
	size_t len = 0;
	int r, fd;

	if (buf == NULL)
		return -ENOMEM;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		r = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	r = read_key_fd(fd, secret, buf, &len, &why);
	(void)close(fd);
	if (r < 0) {
		seterr(err, errlen, "%s: %s", path, why != NULL ? why : strerror(-r));
		goto out;
	}
	if ((r = zt_keyfile_parse(buf, len, &k, perr, sizeof(perr))) < 0) {
		seterr(err, errlen, "%s: %s", path, perr);
		goto out;
	}
	if ((why = missing(&k, secret)) != NULL) {
		seterr(err, errlen, "%s: %s", path, why);
		r = -EINVAL;
		goto out;
	}
	*ret = k;
out:
	explicit_bzero(buf, len); /* it may have held a secret key */
	free(buf);
	return r;
}

/* Creates path exclusively with mode and writes text; removes it again on failure. */
static int
write_new(const char *path, mode_t mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int r = w == (ssize_t)len ? 0 : (w < 0 ? -errno : -EIO);
	/* fchmod: the umask must not widen or narrow what the file promises */
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		(void)unlink(path);
	return r;
}

int
zt_keyfile_generate(const char *dir, const char *name, char *ret_public)
{
	char pub[ZT_KEY_Z85_LEN + 1], sec[ZT_KEY_Z85_LEN + 1];
	char kpath[4096], ppath[4096], text[256];
	int r;

	if (!zt_key_name_ok(name))
		return -EINVAL;
	if (snprintf(kpath, sizeof(kpath), "%s/%s.key", dir, name) >= (int)sizeof(kpath) ||
	    snprintf(ppath, sizeof(ppath), "%s/%s.pub", dir, name) >= (int)sizeof(ppath))
		return -ENAMETOOLONG;
	if (zmq_curve_keypair(pub, sec) < 0)
		return -errno;
	if (access(ppath, F_OK) == 0)
		return -EEXIST;
	(void)snprintf(text, sizeof(text),
	    "# zonetally CURVE key pair '%s': keep secret (mode 0600)\npublic-key = %s\n"
	    "secret-key = %s\n",
	    name, pub, sec);
	if ((r = write_new(kpath, 0600, text)) < 0)
		return r;
	(void)snprintf(
	    text, sizeof(text), "# zonetally CURVE public key '%s'\npublic-key = %s\n", name, pub);
	if ((r = write_new(ppath, 0644, text)) < 0) {
		(void)unlink(kpath);
		return r;
	}
	if (ret_public != NULL)
		memcpy(ret_public, pub, sizeof(pub));
	return 0;
}

int
zt_keyfile_resolve(const char *config_path, const char *path, char *out, size_t size)
{
	char cwd[4096];
	const char *slash = config_path != NULL ? strrchr(config_path, '/') : NULL;
	int n;

	if (path[0] == '/')
		n = snprintf(out, size, "%s", path);
	else if (slash != NULL && config_path[0] == '/')
		n = snprintf(out, size, "%.*s/%s", (int)(slash - config_path), config_path, path);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -errno;
	else if (slash != NULL)
		n = snprintf(
		    out, size, "%s/%.*s/%s", cwd, (int)(slash - config_path), config_path, path);
	else
		n = snprintf(out, size, "%s/%s", cwd, path);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int
zt_token_load(const char *path, char *buf, size_t cap, size_t *ret_len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n = -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		(void)snprintf(err, errlen, "api_token_file '%s': %s", path, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return r;
	}
	if ((st.st_mode & 077) == 0)
		n = read(fd, buf, cap - 1);
	(void)close(fd);
	if ((st.st_mode & 077) != 0) {
		(void)snprintf(err, errlen,
		    "api_token_file '%s': readable by group or others (chmod 600)", path);
		return -EPERM;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			n = -1;
	if (n < ZT_TOKEN_MIN || (size_t)n >= cap - 1) {
		(void)snprintf(err, errlen,
		    "api_token_file '%s': expected one line of %d to %zu printable characters",
		    path, ZT_TOKEN_MIN, cap - 2);
		return -EINVAL;
	}
	buf[n] = '\0';
	*ret_len = (size_t)n;
	return 0;
}
