/*-------------------------------------------------------------------------
 *
 * fsutil.c
 *	  Durable file publication and kill points (see fsutil.h).
 *
 *-------------------------------------------------------------------------
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slog.h"
#include "strata_err.h"

static int
errno_to_err(int e)
{
	return e == ENOSPC || e == EDQUOT ? STRATA_ENOSPC : STRATA_EIO;
}

int
fs_fsync_dir(const char *dir)
{
	int			fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int			err = 0;

	if (fd < 0 || fsync(fd) != 0)
	{
		err = errno;
		slog(SLOG_ERROR, "fsutil: could not fsync directory \"%s\": %s", dir, strerror(err));
	}
	if (fd >= 0)
		close(fd);
	return err ? STRATA_EIO : 0;
}

int
fs_private_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
	{
		slog(SLOG_ERROR, "fsutil: could not create directory \"%s\": %s", path, strerror(errno));
		return STRATA_EIO;
	}
	if (lstat(path, &st) != 0)
	{
		slog(SLOG_ERROR, "fsutil: could not stat \"%s\": %s", path, strerror(errno));
		return STRATA_EIO;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
	{
		slog(SLOG_ERROR, "fsutil: refusing directory \"%s\": it must be a directory owned by "
			 "uid %u with mode 0700 (it is %s, uid %u, mode %04o); someone else may have made it "
			 "to take over the socket: remove it", path, (unsigned) geteuid(),
			 S_ISLNK(st.st_mode) ? "a symlink" : S_ISDIR(st.st_mode) ? "a directory" : "a file",
			 (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
		return STRATA_EINVAL;
	}
	return 0;
}

int
fs_write_durable(const char *path, const void *data, size_t len)
{
	char		tmp[PATH_MAX];
	char		dir[PATH_MAX];
	int			fd;
	int			saved;
	const char *what;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		what = "create";
		goto fail;
	}
	if (write(fd, data, len) != (ssize_t) len)
	{
		what = "write";
		if (errno == 0)
			errno = ENOSPC;
		goto fail_close;
	}
	if (fsync(fd) != 0)
	{
		what = "fsync";
		goto fail_close;
	}
	close(fd);
	if (rename(tmp, path) != 0)
	{
		what = "rename";
		goto fail_unlink;
	}
	strncpy(dir, path, sizeof(dir) - 1);
	dir[sizeof(dir) - 1] = '\0';
	return fs_fsync_dir(dirname(dir));

fail_close:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
fail:
	saved = errno;
	slog(SLOG_ERROR, "fsutil: could not %s \"%s\": %s", what, tmp, strerror(saved));
	return errno_to_err(saved);
}

int
fs_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* no RENAME_NOREPLACE here: link(2) fails with EEXIST too */
	if (link(from, to) != 0)
		return -1;
	(void) unlink(from);		/* a leftover temp file is removed at the next start */
	return 0;
}

int
fs_read_file(const char *path, void **data, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	long		n;
	void	   *buf;

	if (f == NULL)
		return errno == ENOENT ? STRATA_ENOTFOUND : STRATA_EIO;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		fclose(f);
		return STRATA_EIO;
	}
	buf = malloc(n + 1);
	if (buf == NULL)
	{
		fclose(f);
		return STRATA_ENOMEM;
	}
	if (fread(buf, 1, n, f) != (size_t) n)
	{
		free(buf);
		fclose(f);
		return STRATA_EIO;
	}
	((char *) buf)[n] = '\0';
	fclose(f);
	*data = buf;
	*len = (size_t) n;
	return 0;
}

int
fs_lock_pidfile(const char *datadir, int wait_ms)
{
	char		path[4096];
	char		buf[32];
	int			fd;
	int			n;

	snprintf(path, sizeof(path), "%s/stratad.pid", datadir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		slog(SLOG_ERROR, "fsutil: could not open \"%s\": %s", path, strerror(errno));
		return -1;
	}
	/* a previous stratad may still be finishing its shutdown */
	while (flock(fd, LOCK_EX | LOCK_NB) != 0 && wait_ms > 0)
	{
		usleep(100 * 1000);
		wait_ms -= 100;
	}
	if (wait_ms <= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		n = (int) read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		slog(SLOG_ERROR, "fsutil: another stratad (PID %s) is running in \"%s\"",
			 buf[0] ? buf : "?", datadir);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, n, 0) != n)
	{
		slog(SLOG_ERROR, "fsutil: could not write \"%s\": %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;					/* held open: the lock lives as long as we do */
}

/*
 * Tests set STRATA_KILL_POINT to a point's name to abort() there; with
 * STRATA_KILL_ONCE_FILE also set, only while that file exists (it is
 * removed first), so a restarted stratad passes the point.
 */
void
fs_kill_point(const char *name)
{
	const char *want = getenv("STRATA_KILL_POINT");
	const char *once = getenv("STRATA_KILL_ONCE_FILE");

	if (want == NULL || strcmp(want, name) != 0)
		return;
	if (once != NULL && unlink(once) != 0)
		return;
	slog(SLOG_WARNING, "fsutil: aborting at kill point \"%s\"", name);
	abort();
}

/*
 * Fault injection for tests: true once per creation of the file named by
 * the environment variable envvar (the file is removed when it fires).
 */
int
fs_fault_once(const char *envvar)
{
	const char *f = getenv(envvar);

	if (f == NULL || unlink(f) != 0)
		return 0;
	slog(SLOG_WARNING, "fsutil: injecting the fault of %s", envvar);
	return 1;
}
