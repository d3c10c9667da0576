/*
 * zt_config.h: the zonetallyd configuration file (INI, parsed with libinih): its keys, their
 * defaults and their validation. Shared by the daemon and by the `zonetally` CLI, which finds
 * the store the way the daemon does. Never logs: errors come back as text for the caller.
 */
#ifndef ZT_CONFIG_H
#define ZT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_CONFIG_MAX_ENDPOINTS 8
#define ZT_CONFIG_ERR_LEN       256

enum zt_log_level {
	ZT_LOG_ERROR = 0,
	ZT_LOG_WARNING = 1,
	ZT_LOG_INFO = 2,
	ZT_LOG_DEBUG = 3,
};

/* Every field is owned by the struct; zt_config_done() frees them. */
struct zt_config {
	/* [daemon] */
	char *state_dir;  /* the store lives in <state_dir>/store */
	char *zones_file; /* registry CSV loaded at start; "" keeps the stored registry */
	int log_level;    /* enum zt_log_level */

	/* [ingest] */
	char *sub_bind[ZT_CONFIG_MAX_ENDPOINTS]; /* SUB binds here (publishers connect) */
	size_t n_sub_bind;
	char *sub_connect[ZT_CONFIG_MAX_ENDPOINTS]; /* SUB connects to these PUB endpoints */
	size_t n_sub_connect;
	char *subscribe;            /* topic prefix, "ev." by default; "ev.33" for a shard */
	uint32_t max_message_bytes; /* larger payloads are rejected as oversize */
	uint32_t rcvhwm;            /* SUB receive high-water mark, messages */

	/* [batch] */
	uint32_t batch_max_events; /* a batch closes at this many messages... */
	uint32_t batch_max_ms;     /* ...or this many ms after its first one */
	uint32_t batch_backlog;    /* what one batch may grow to while a commit runs */

	/* [validation] */
	uint32_t dedup_window_days;
	uint32_t future_tolerance_s;
	int64_t max_value_fen; /* per declaration */

	/* [store] */
	uint64_t map_size_mb;   /* initial LMDB map size; grows when full */
	uint32_t rejects_max;   /* rejected messages kept for inspection */
	uint32_t reader_warn_s; /* issue 14: warn of a snapshot held longer; 0: never */

	/* [metrics] */
	char *metrics_listen; /* ADDR:PORT of the Prometheus endpoint; "" or "off": none */
	char *dashboard_dir;  /* issue 8: the dashboard's static files, served at / */
	char *api_token_file; /* issue 8: bearer token for /api/ ("": none); relative to the file */
	uint32_t http_max_connections;  /* issue 14: HTTP connections (threads) at once */
	uint32_t http_max_per_address;  /* of them from one IPv4 address */
	uint32_t http_header_timeout_s; /* a request's line and headers must be in by then */
	/* [ingest], acknowledged path (daemon/router.c) */
	char *router_bind;      /* ROUTER binds here (DEALER publishers connect); "" = off */
	uint32_t router_window; /* messages of one peer received but not yet acked, at most */
	/* [feed] */
	char *feed_bind;            /* PUB of totals updates; "" disables the feed */
	uint32_t feed_heartbeat_ms; /* a heartbeat at least this often */
	uint32_t feed_sndhwm;       /* per-watcher queue; a slow watcher loses updates beyond */
	uint32_t feed_max_watchers; /* issue 14: connected watchers; the ZAP handler refuses more */
	uint64_t feed_watcher_max_bytes;  /* issue 14: one watcher's send queue, at most */
	uint32_t feed_watcher_timeout_ms; /* issue 14: a watcher silent this long is dropped */

	/* [query] */
	char *query_bind;                 /* ROUTER answering QueryRequest; "" disables */
	uint32_t query_max_request_bytes; /* larger requests get an error reply */
	uint32_t query_max_pending;       /* issue 14: requests queued, all clients together */
	uint32_t query_max_per_client;    /* issue 14: requests queued per client; then busy */

	/* [security] (issue 6); relative paths are relative to the configuration file's dir */
	char *curve_secret_key_file; /* the daemon's NAME.key; "" = plaintext (the default) */
	char *authorized_dir;        /* publishers' NAME.pub files: key and zones */
	char *readers_dir;           /* query/feed clients' NAME.pub files */
};

/* Default path of the configuration file. */
#define ZT_CONFIG_DEFAULT_PATH "/etc/zonetally/zonetallyd.conf"

/* Sets every key to its default. Returns 0 or -ENOMEM. */
int zt_config_init(struct zt_config *c);

/*
 * Parses an INI file over the values already in c (defaults, normally). Unknown sections or
 * keys and malformed values are errors.
 * @param[out] err on failure, "FILE:LINE: key 'k': reason" (NUL-terminated, truncated)
 * @return 0; -ENOENT or another negative errno if the file cannot be read; -EINVAL on a
 *     syntax or value error; -ENOMEM.
 */
int zt_config_load(struct zt_config *c, const char *path, char *err, size_t errlen);

/* Checks relations between keys (e.g. at least one SUB endpoint). @return 0 or -EINVAL. */
int zt_config_validate(const struct zt_config *c, char *err, size_t errlen);

/* Frees the contents of c (not c itself) and zeroes it. Safe on a zeroed or half-built c. */
void zt_config_done(struct zt_config *c);

/*
 * Replaces the string *field by a copy of value (used for command-line overrides).
 * @return 0 or -ENOMEM (then *field is unchanged).
 */
int zt_config_set_string(char **field, const char *value);

/* Called by zt_config_diff() for each key whose value differs. */
typedef void (*zt_config_diff_cb)(const char *section, const char *key, bool reloadable, void *arg);

/*
 * Compares two configurations key by key (used by SIGHUP reload to say what changed and
 * what needs a restart).
 * @param cb called once per differing key, in table order; may be NULL
 * @return the number of keys that differ.
 */
int zt_config_diff(
    const struct zt_config *a, const struct zt_config *b, zt_config_diff_cb cb, void *arg);

/*
 * Copies into dst the value of every key of src whose reloadable flag equals `reloadable`
 * (strings duplicated). Reload builds the live config as "new file, but the restart-only
 * keys of the running one".
 * @return 0 or -ENOMEM (dst is then partly updated but consistent: zt_config_done() safe).
 */
int zt_config_copy_keys(struct zt_config *dst, const struct zt_config *src, bool reloadable);

#endif /* ZT_CONFIG_H */
