/*
 * spool.c: the reliable publisher's spool directory. Every event is appended to <dir>/events
 * before it is sent; <dir>/state holds the acknowledged mark and the highest sequence ever
 * spooled. On open, the events above the mark are handed back for resending. When the log
 * grows past COMPACT_BYTES it is rewritten with only the unacknowledged events (a new file
 * renamed over the old one), so the spool stays the size of the window.
 * Records are [u32 len][u64 seq][len bytes], big-endian; a torn last record (the process
 * died inside write()) is cut off. Writes are not fsynced: the spool survives a crash of
 * the publisher process (the page cache survives it), not a crash of the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pubconn.h"

#define REC_HDR       12
#define COMPACT_BYTES (4u << 20)
#define REC_MAX       (1u << 20) /* a record larger than this is corrupt */

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int
open_in(const struct spool *sp, const char *name, int flags, int *ret)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", sp->dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, flags | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	*ret = fd;
	return 0;
}

/* Reads a whole file into memory; *ret is NULL for an empty file. */
static int
slurp(int fd, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size > 0 && (buf = malloc((size_t)st.st_size)) == NULL)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		got += (size_t)n;
	}
	*ret = buf;
	*ret_len = got;
	return 0;
}

/* Hands back every complete record above `through`; cuts off a torn tail. */
static int
replay(struct spool *sp, uint64_t through, spool_cb cb, void *arg)
{
	uint8_t *buf = NULL;
	size_t len = 0, pos = 0;
	int r = slurp(sp->log_fd, &buf, &len);

	while (r == 0 && len - pos >= REC_HDR) {
		uint32_t n = (uint32_t)get_be(buf + pos, 4);
		uint64_t seq = get_be(buf + pos + 4, 8);
		if (n == 0 || n > REC_MAX || len - pos - REC_HDR < n)
			break;
		if (seq > through)
			r = cb(seq, buf + pos + REC_HDR, n, arg);
		if (seq > sp->high)
			sp->high = seq;
		pos += REC_HDR + n;
	}
	free(buf);
	if (r == 0 && pos < len && ftruncate(sp->log_fd, (off_t)pos) < 0)
		r = -errno;
	sp->log_bytes = pos;
	return r;
}

/*
 * Opens (creating) the spool in dir and calls cb for each event above the acknowledged
 * mark, in spool order. @return 0, cb's negative value, or a negative errno.
 */
int
spool_open(struct spool *sp, const char *dir, spool_cb cb, void *arg)
{
	uint8_t st[16];

	memset(sp, 0, sizeof(*sp));
	sp->log_fd = sp->state_fd = -1;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	if ((sp->dir = strdup(dir)) == NULL)
		return -ENOMEM;
	int r = open_in(sp, "state", O_RDWR | O_CREAT, &sp->state_fd);
	if (r == 0)
		r = open_in(sp, "events", O_RDWR | O_CREAT | O_APPEND, &sp->log_fd);
	if (r < 0)
		return r;
	uint64_t through = 0;
	if (pread(sp->state_fd, st, sizeof(st), 0) == (ssize_t)sizeof(st)) {
		through = get_be(st, 8);
		sp->high = get_be(st + 8, 8);
	}
	return replay(sp, through, cb, arg);
}

/* Appends one event. @return 0 or a negative errno (-EIO on a short write). */
int
spool_append(struct spool *sp, uint64_t seq, const void *data, uint32_t len)
{
	uint8_t hdr[REC_HDR];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)(uintptr_t)data, len}};

	put_be(hdr, len, 4);
	put_be(hdr + 4, seq, 8);
	ssize_t n = writev(sp->log_fd, iov, 2);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hdr) + len)
		return -EIO;
	sp->log_bytes += (uint64_t)n;
	if (seq > sp->high)
		sp->high = seq;
	return 0;
}

/* Rewrites the log with the unacknowledged events only. */
static int
compact(struct spool *sp, const struct pc_slot *ring, size_t cap, size_t head, size_t count)
{
	char tmp[4096], path[4096];
	int fd = -1;

	if (snprintf(tmp, sizeof(tmp), "%s/events.tmp", sp->dir) >= (int)sizeof(tmp) ||
	    snprintf(path, sizeof(path), "%s/events", sp->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int r = open_in(sp, "events.tmp", O_RDWR | O_CREAT | O_TRUNC | O_APPEND, &fd);
	if (r < 0)
		return r;
	int old = sp->log_fd;
	sp->log_fd = fd;
	sp->log_bytes = 0;
	for (size_t i = 0; r == 0 && i < count; i++) {
		const struct pc_slot *s = &ring[(head + i) % cap];
		r = spool_append(sp, s->seq, s->data, s->len);
	}
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) { /* keep the old, complete log */
		(void)close(fd);
		(void)unlink(tmp);
		sp->log_fd = old;
		return r;
	}
	(void)close(old);
	return 0;
}

/*
 * Records the acknowledged mark (and the highest sequence), then compacts the log if it
 * grew large. ring/cap/head/count: the events still unacknowledged.
 * @return 0 or a negative errno.
 */
int
spool_acked(struct spool *sp, uint64_t through, const struct pc_slot *ring, size_t cap, size_t head,
    size_t count)
{
	uint8_t st[16];

	put_be(st, through, 8);
	put_be(st + 8, sp->high, 8);
	if (pwrite(sp->state_fd, st, sizeof(st), 0) != (ssize_t)sizeof(st))
		return errno ? -errno : -EIO;
	if (sp->log_bytes < COMPACT_BYTES)
		return 0;
	return compact(sp, ring, cap, head, count);
}

/* Closes the files; the spool stays on disk. Idempotent. */
void
spool_close(struct spool *sp)
{
	if (sp->log_fd >= 0)
		(void)close(sp->log_fd);
	if (sp->state_fd >= 0)
		(void)close(sp->state_fd);
	free(sp->dir);
	memset(sp, 0, sizeof(*sp));
	sp->log_fd = sp->state_fd = -1;
}
