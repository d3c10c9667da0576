/*
 * statefile.c: the small files zonetallyd keeps beside the store for scripts and for
 * `zonetally` (endpoints, pid, reload verdict). Each is replaced atomically, so a reader
 * sees the old content or the new one, never a torn line. The state directory's lock
 * (<state_dir>/zonetallyd.lock) says which daemon owns them.
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

/* The lock's descriptor, open for the process lifetime (closing it drops the lock). */
static int lock_fd = -1;

/*
 * Takes the state directory's lock: a POSIX write lock on <state_dir>/zonetallyd.lock, held
 * until the process exits (the kernel drops it then, even after SIGKILL, so a crash never
 * leaves a stale lock). The file is never removed: a daemon starting while another stops
 * must lock the same inode. Call after detaching (locks do not pass through fork). The
 * descriptor stays open for good, and this process must never open the file again: closing
 * any descriptor of it would drop the lock.
 * @return 0; -EAGAIN when another process holds it, with *ret_holder its pid (0 when it
 * cannot be seen from here); or a negative errno.
 */
int
state_lock(const char *state_dir, long *ret_holder)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", state_dir, ZT_LOCK_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_SETLK, &fl) == 0) {
		lock_fd = fd;
		return 0;
	}
	int r = errno == EAGAIN || errno == EACCES ? -EAGAIN : -errno;
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (r == -EAGAIN)
		*ret_holder = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? fl.l_pid : 0;
	(void)close(fd);
	return r;
}
