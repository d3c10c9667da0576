/*
 * statefile.c: the small files zonetallyd keeps beside the store for scripts and for
 * `zonetally` (endpoints, pid, reload verdict). Each is replaced atomically, so a reader
 * sees the old content or the new one, never a torn line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/*
 * Writes <state_dir>/NAME atomically: a temporary file, fsync, then rename.
 * @return 0 or a negative errno.
 */
int
state_file_write(const char *state_dir, const char *name, const char *text)
{
	char path[4096], tmp[4200];

	if (snprintf(path, sizeof(path), "%s/%s", state_dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int r = w == (ssize_t)len ? 0 : (w < 0 ? -errno : -EIO);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

/* Removes <state_dir>/NAME if it exists (at exit: what it announced is gone). */
void
state_file_remove(const char *state_dir, const char *name)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", state_dir, name) < (int)sizeof(path))
		(void)unlink(path);
}
