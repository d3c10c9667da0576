/*
 * ops.c: what operators need from the store besides totals: reader slots in use (for
 * metrics) and a compacting online backup (`zonetally backup`).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* mdb_reader_list() prints a header line, then one line per slot in use. */
static int
count_line(const char *msg, void *arg)
{
	int *n = arg;

	(void)msg;
	(*n)++;
	return 0;
}

int
zt_store_readers(struct zt_store *s, unsigned *ret_in_use, unsigned *ret_max)
{
	MDB_envinfo info;
	unsigned max = 0;
	int lines = 0;
	int rc = mdb_env_info(s->env, &info);

	if (rc == 0)
		rc = mdb_env_get_maxreaders(s->env, &max);
	if (rc == 0 && mdb_reader_list(s->env, count_line, &lines) < 0)
		rc = EIO;
	if (rc != 0)
		return zt_mdb_err(rc);
	*ret_in_use = lines > 1 ? (unsigned)(lines - 1) : 0;
	*ret_max = max;
	return 0;
}

int
zt_store_backup(struct zt_store *s, const char *dest_dir, bool compact)
{
	int rc = mdb_env_copy2(s->env, dest_dir, compact ? MDB_CP_COMPACT : 0);

	if (rc == ENOENT || rc == EEXIST || rc == EACCES || rc == ENOSPC || rc == ENOTDIR)
		return -rc;
	return rc == 0 ? 0 : zt_mdb_err(rc);
}
