/*
 * allowlist.c: the directories of authorised client keys (authorized_publishers.d/,
 * authorized_readers.d/): one key file per client, named NAME.pub, whose NAME becomes the
 * connection's ZAP User-Id. A list is built whole and then never changes: a reload builds a
 * new one and swaps it (the daemon's zap.c), so readers need no lock while they hold it.
 * Library code (zt_keyfile.h): never logs, so that `zonetally check-config` can use it too.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "zt_keyfile.h"

#define SUFFIX ".pub"

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(
	    ((const struct zt_allow_entry *)a)->name, ((const struct zt_allow_entry *)b)->name);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Whether a directory entry is meant as an allowlist entry: "*.pub", not hidden (so that
 * editors' backups, READMEs and half-copied ".x.pub" files are not read). */
static bool
is_entry(const char *file)
{
	size_t n = strlen(file), s = strlen(SUFFIX);

	return n > s && file[0] != '.' && strcmp(file + n - s, SUFFIX) == 0;
}

/* NAME of an entry "NAME.pub"; false if it does not fit in size. */
static bool
entry_name(const char *file, char *name, size_t size)
{
	size_t n = strlen(file), s = strlen(SUFFIX);

	if (!is_entry(file) || n - s >= size)
		return false;
	memcpy(name, file, n - s);
	name[n - s] = '\0';
	return true;
}

/* What is wrong with a loaded file as a publisher's or a reader's entry, or NULL. */
static const char *
entry_problem(const struct zt_keyfile *k, bool publishers)
{
	if (k->secret_key[0] != '\0')
		return "holds a secret key: copy NAME.pub, never NAME.key";
	if (publishers && k->n_zones == 0)
		return "no zones: a publisher needs 'zones = CODE ...'";
	if (!publishers && (k->n_zones > 0 || k->n_publisher_ids > 0))
		return "zones and publisher-ids are for publishers, not readers";
	return NULL;
}

/* Loads dir/file into e; checks what a publisher or reader entry may hold. */
static int
load_entry(const char *dir, const char *file, bool publishers, struct zt_allow_entry *e, char *err,
    size_t errlen)
{
	char path[4096];
	struct zt_keyfile *k = calloc(1, sizeof(*k));
	const char *why = NULL;
	int r = -EINVAL;

	if (k == NULL)
		return -ENOMEM;
	(void)snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (!entry_name(file, e->name, sizeof(e->name)) || !zt_key_name_ok(e->name))
		(void)snprintf(
		    err, errlen, "%s: the name must be 1..64 of A-Z a-z 0-9 . _ -", path);
	else if ((r = zt_keyfile_load(path, false, k, err, errlen)) < 0)
		;
	else if ((why = entry_problem(k, publishers)) != NULL) {
		(void)snprintf(err, errlen, "%s: %s", path, why);
		r = -EINVAL;
	} else if ((e->zones = calloc(k->n_zones + 1, sizeof(uint32_t))) == NULL) {
		r = -ENOMEM;
	} else {
		(void)zmq_z85_decode(e->key, k->public_key);
		memcpy(e->zones, k->zones, k->n_zones * sizeof(uint32_t));
		e->n_zones = k->n_zones;
		qsort(e->zones, e->n_zones, sizeof(uint32_t), cmp_u32);
		memcpy(e->publisher_ids, k->publisher_ids, sizeof(e->publisher_ids));
		e->n_publisher_ids = k->n_publisher_ids;
	}
	free(k);
	return r;
}

/* Appends one more slot to a. */
static struct zt_allow_entry *
grow(struct zt_allowlist *a)
{
	struct zt_allow_entry *e = realloc(a->e, (a->n + 1) * sizeof(*e));

	if (e == NULL)
		return NULL;
	a->e = e;
	memset(&e[a->n], 0, sizeof(e[0]));
	return &e[a->n];
}

/* Two files with one key would make the identity ambiguous: refuse the list. */
static int
check_unique(const struct zt_allowlist *a, const char *dir, char *err, size_t errlen)
{
	for (size_t i = 0; i < a->n; i++)
		for (size_t j = i + 1; j < a->n; j++)
			if (memcmp(a->e[i].key, a->e[j].key, sizeof(a->e[i].key)) == 0) {
				(void)snprintf(err, errlen,
				    "%s: %s.pub and %s.pub hold the same key", dir, a->e[i].name,
				    a->e[j].name);
				return -EINVAL;
			}
	return 0;
}

/* Reads every NAME.pub of an open directory into a. */
static int
read_dir(DIR *d, const char *dir, bool publishers, struct zt_allowlist *a, char *err, size_t errlen)
{
	struct dirent *de;
	int r = 0;

	errno = 0;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (!is_entry(de->d_name))
			continue;
		struct zt_allow_entry *e = grow(a);
		if (e == NULL)
			return -ENOMEM;
		if ((r = load_entry(dir, de->d_name, publishers, e, err, errlen)) == 0)
			a->n++;
		else
			free(e->zones);
		errno = 0;
	}
	if (r == 0 && errno != 0) {
		r = -errno;
		(void)snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	}
	return r;
}

int
zt_allowlist_load(
    const char *dir, bool publishers, struct zt_allowlist **ret, char *err, size_t errlen)
{
	struct zt_allowlist *a = calloc(1, sizeof(*a));
	int r = 0;

	if (a == NULL)
		return -ENOMEM;
	DIR *d = opendir(dir);
	if (d == NULL && errno != ENOENT) {
		r = -errno;
		(void)snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	} else if (d != NULL) {
		r = read_dir(d, dir, publishers, a, err, errlen);
		(void)closedir(d);
	}
	if (r == 0)
		r = check_unique(a, dir, err, errlen);
	if (r < 0) {
		zt_allowlist_free(a);
		return r;
	}
	if (a->n > 1) /* qsort's base must not be NULL, even for 0 elements */
		qsort(a->e, a->n, sizeof(a->e[0]), cmp_name);
	*ret = a;
	return 0;
}

struct zt_allowlist *
zt_allowlist_free(struct zt_allowlist *a)
{
	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < a->n; i++)
		free(a->e[i].zones);
	free(a->e);
	free(a);
	return NULL;
}

const struct zt_allow_entry *
zt_allowlist_by_key(const struct zt_allowlist *a, const uint8_t *key)
{
	for (size_t i = 0; a != NULL && i < a->n; i++)
		if (memcmp(a->e[i].key, key, sizeof(a->e[i].key)) == 0)
			return &a->e[i];
	return NULL;
}

const struct zt_allow_entry *
zt_allowlist_by_name(const struct zt_allowlist *a, const char *name)
{
	struct zt_allow_entry k;

	if (a == NULL || a->n == 0 || strlen(name) > ZT_KEY_NAME_MAX)
		return NULL;
	(void)snprintf(k.name, sizeof(k.name), "%s", name);
	return bsearch(&k, a->e, a->n, sizeof(a->e[0]), cmp_name);
}

bool
zt_allowlist_zone_ok(const struct zt_allow_entry *e, uint32_t zone)
{
	return e != NULL && bsearch(&zone, e->zones, e->n_zones, sizeof(zone), cmp_u32) != NULL;
}

bool
zt_allowlist_publisher_ok(const struct zt_allow_entry *e, const char *id)
{
	if (e == NULL)
		return false;
	if (strcmp(e->name, id) == 0)
		return true;
	for (size_t i = 0; i < e->n_publisher_ids; i++)
		if (strcmp(e->publisher_ids[i], id) == 0)
			return true;
	return false;
}
