/*-------------------------------------------------------------------------
 *
 * fsutil.h
 *	  Durable file publication (I14) and small file helpers.
 *
 * fs_write_durable(): write to "<path>.tmp", fsync it, rename over path,
 * fsync the directory.  Returns 0 or a negative strata_err, logging the
 * failing step with the file name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_FSUTIL_H
#define STRATA_FSUTIL_H

#include <stddef.h>

extern int	fs_write_durable(const char *path, const void *data, size_t len);
extern int	fs_fsync_dir(const char *dir);

/*
 * rename(2) that never replaces: -1 with errno EEXIST if `to` exists
 * (renameat2 RENAME_NOREPLACE, or link + unlink where the filesystem
 * lacks it).  Layer files use it: a name is one immutable file, so a job
 * that would produce an existing name must not overwrite it.
 */
extern int	fs_rename_noreplace(const char *from, const char *to);

/*
 * Remove a directory tree stratad made (files and directories, a few
 * levels deep); a missing path is success.  Logs and returns STRATA_EIO if
 * anything stays.
 */
extern int	fs_remove_tree(const char *path);

/*
 * Create directory path with mode 0700, or accept an existing one only if
 * it is a directory (not a symlink) owned by our effective uid that group
 * and others cannot use (mode 0700).  Where a socket lives in a shared
 * place such as /tmp, a directory someone else made first would let them
 * replace the socket.  Returns 0 or STRATA_EINVAL / STRATA_EIO (logged).
 */
extern int	fs_private_dir(const char *path);

/* Read a whole small file into a malloc'd buffer; caller frees. */
extern int	fs_read_file(const char *path, void **data, size_t *len);

/*
 * Take DATADIR/stratad.pid with flock(LOCK_EX|LOCK_NB), waiting up to
 * wait_ms for a holder to go, and write our PID.  Returns the fd to keep
 * open for as long as the lock is held, or -1 (logged, naming the holder's
 * PID if another process has it).
 */
extern int	fs_lock_pidfile(const char *datadir, int wait_ms);

#endif							/* STRATA_FSUTIL_H */
