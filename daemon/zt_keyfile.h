/*
 * zt_keyfile.h: the CURVE key files of zonetally, shared by the daemon (its secret key, the
 * allowlist directories) and the clients (zonetally-pub's client key and the server's
 * public key). Never logs: errors come back as text for the caller.
 *
 * A key file is lines of "name = value"; '#' starts a comment line; blank lines are ignored:
 *   public-key = <40 Z85 characters>      (every file)
 *   secret-key = <40 Z85 characters>      (NAME.key only, written by `zonetally keygen`)
 *   zones = 330100 330200                 (allowlist files of publishers: the zone codes
 *                                          this key may publish for; may repeat)
 *   publisher-ids = hz-1 hz-2             (publishers: publisher_id values this key may use
 *                                          besides its NAME; may repeat)
 * Any other name, a repeated key, a malformed key or zone is an error with its line number.
 */
#ifndef ZT_KEYFILE_H
#define ZT_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_KEY_Z85_LEN       40    /* a 32-byte CURVE key in Z85 */
#define ZT_KEYFILE_MAX_ZONES 512   /* zone codes one publisher may hold */
#define ZT_KEYFILE_MAX_BYTES 65536 /* larger files are refused unread */
#define ZT_KEYFILE_MAX_IDS   16    /* publisher-ids of one key */
#define ZT_KEY_NAME_MAX      64    /* key names and publisher ids: 1..64 of [A-Za-z0-9._-] */

struct zt_keyfile {
	char public_key[ZT_KEY_Z85_LEN + 1];  /* "" when absent */
	char secret_key[ZT_KEY_Z85_LEN + 1];  /* "" when absent */
	uint32_t zones[ZT_KEYFILE_MAX_ZONES]; /* in file order, no duplicates */
	size_t n_zones;
	char publisher_ids[ZT_KEYFILE_MAX_IDS][ZT_KEY_NAME_MAX + 1];
	size_t n_publisher_ids;
};

/*
 * Parses the text of a key file.
 * @param[in] text the file's bytes (need not be NUL-terminated)
 * @param[out] ret filled on success only
 * @param[out] err on failure "line N: reason"
 * @return 0; -EINVAL on a malformed file; -E2BIG beyond ZT_KEYFILE_MAX_ZONES zones or
 *     ZT_KEYFILE_MAX_IDS publisher ids.
 */
int zt_keyfile_parse(
    const char *text, size_t len, struct zt_keyfile *ret, char *err, size_t errlen);

/*
 * Reads and parses a key file. With `secret`, the file must hold a secret key and must not
 * be readable, writable or executable by group or others (a leaked secret key lets anyone
 * impersonate its owner).
 * @param[out] err on failure "PATH: reason" or "PATH:N: reason"
 * @return 0; -EPERM for a secret key file open to group/others; -EINVAL if malformed or
 *     without the needed key; -EFBIG above ZT_KEYFILE_MAX_BYTES; another negative errno.
 */
int zt_keyfile_load(
    const char *path, bool secret, struct zt_keyfile *ret, char *err, size_t errlen);

/* Whether s is exactly 40 characters of valid Z85 (a CURVE key). */
bool zt_key_z85_ok(const char *s);

/*
 * Writes NAME.key (public + secret, mode 0600, created exclusively) and NAME.pub (public
 * only, mode 0644) in dir from a fresh zmq_curve_keypair().
 * @param[out] ret_public the new public key (41 bytes), may be NULL
 * @return 0; -EEXIST if either file exists (nothing is overwritten); -ENOTSUP without
 *     CURVE in libzmq; another negative errno.
 */
int zt_keyfile_generate(const char *dir, const char *name, char *ret_public);

/* Whether name is a usable key or publisher name: 1..64 of [A-Za-z0-9._-], not "." first. */
bool zt_key_name_ok(const char *name);

/*
 * Resolves a [security] path of the configuration: absolute paths as they are, relative ones
 * against the directory of the configuration file (or the working directory when config_path
 * is NULL), so that "server.key" means /etc/zonetally/server.key under systemd.
 * @param[out] out the absolute path (NUL-terminated)
 * @return 0; -ENAMETOOLONG; another negative errno from getcwd().
 */
int zt_keyfile_resolve(const char *config_path, const char *path, char *out, size_t size);

#define ZT_TOKEN_MIN 16  /* characters of an API bearer token, at least */
#define ZT_TOKEN_MAX 256 /* and at most (the daemon's WEB_TOKEN_MAX) */

/*
 * Reads the HTTP API's bearer token file ([metrics] api_token_file): one line of
 * ZT_TOKEN_MIN to cap - 2 printable characters, in a file of mode 0600 or stricter, like a
 * CURVE secret key file. One check for the daemon and `zonetally check-config`.
 * @param[out] buf the token, NUL-terminated (cap bytes); ret_len its length
 * @return 0; -EPERM (readable by group or others); -EINVAL (not such a line); a negative
 *     errno of open(). err says which file and why.
 */
int zt_token_load(
    const char *path, char *buf, size_t cap, size_t *ret_len, char *err, size_t errlen);

/* ---- allowlist directories (allowlist.c) ---- */

/* One authorised client key: NAME.pub of an allowlist directory. */
struct zt_allow_entry {
	char name[ZT_KEY_NAME_MAX + 1]; /* file name without .pub: the ZAP User-Id */
	uint8_t key[32];                /* CURVE public key */
	uint32_t *zones;                /* sorted; publishers only */
	size_t n_zones;
	/* publisher_id values it may use besides name (publishers only) */
	char publisher_ids[ZT_KEYFILE_MAX_IDS][ZT_KEY_NAME_MAX + 1];
	size_t n_publisher_ids;
};

/* Sorted by name; built whole by zt_allowlist_load(), never changed afterwards, so that a
 * reload builds a new list and swaps the pointer. */
struct zt_allowlist {
	struct zt_allow_entry *e;
	size_t n;
};

/*
 * Loads every NAME.pub (not starting with '.') of dir. Publishers' files need at least one
 * zones line, readers' files must have none; no file may hold a secret key; no two files
 * may hold the same key. A missing directory is an empty list.
 * @param[out] ret the list, set on success only; free with zt_allowlist_free()
 * @param[out] err on failure "PATH: reason" or "PATH: line N: reason"
 * @return 0; -EINVAL (a malformed file: the whole list is refused); -ENOMEM; -errno.
 */
int zt_allowlist_load(
    const char *dir, bool publishers, struct zt_allowlist **ret, char *err, size_t errlen);

/* Frees a list (NULL is fine). @return NULL, for a = zt_allowlist_free(a). */
struct zt_allowlist *zt_allowlist_free(struct zt_allowlist *a);

/* The entry of a 32-byte public key, or NULL. Borrowed: valid while the list lives. */
const struct zt_allow_entry *zt_allowlist_by_key(const struct zt_allowlist *a, const uint8_t *key);

/* The entry named name (a ZAP User-Id), or NULL. Borrowed: valid while the list lives. */
const struct zt_allow_entry *zt_allowlist_by_name(const struct zt_allowlist *a, const char *name);

/* Whether entry e (may be NULL: no) may publish for zone. */
bool zt_allowlist_zone_ok(const struct zt_allow_entry *e, uint32_t zone);

/* Whether entry e (may be NULL: no) may send events whose publisher_id is id: its own name
 * or one of its publisher-ids. */
bool zt_allowlist_publisher_ok(const struct zt_allow_entry *e, const char *id);

#endif /* ZT_KEYFILE_H */
