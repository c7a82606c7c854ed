/*-------------------------------------------------------------------------
 *
 * fsutil.c
 *	  Durable file publication and kill points (see fsutil.h).
 *
 *-------------------------------------------------------------------------
 */
#include "fsutil.h"

#include <dirent.h>
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

#include "fio.h"
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
	int			fd = fio_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int			err = 0;

	if (fd < 0 || fio_fsync(fd) != 0)
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
	fd = fio_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		what = "create";
		goto fail;
	}
	if (fio_write(fd, data, len) != (ssize_t) len)
	{
		what = "write";
		if (errno == 0)
			errno = ENOSPC;
		goto fail_close;
	}
	if (fio_fsync(fd) != 0)
	{
		what = "fsync";
		goto fail_close;
	}
	close(fd);
	if (fio_rename(tmp, path) != 0)
	{
		what = "rename";
		goto fail_unlink;
	}
	strncpy(dir, path, sizeof(dir) - 1);
	dir[sizeof(dir) - 1] = '\0';
	/* tests: the failure after the rename, when the new name may or may not be on disk */
	if (fio_fault_once("STRATA_FAIL_DURABLE_DIRSYNC_ONCE_FILE"))
	{
		slog(SLOG_ERROR, "fsutil: could not fsync the directory of \"%s\": injected EIO", path);
		return STRATA_EIO;
	}
	return fs_fsync_dir(dirname(dir));

fail_close:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	fio_unlink(tmp);
	errno = saved;
fail:
	saved = errno;
	slog(SLOG_ERROR, "fsutil: could not %s \"%s\": %s", what, tmp, strerror(saved));
	return errno_to_err(saved);
}

int
fs_rename_noreplace(const char *from, const char *to)
{
	if (fio_renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* no RENAME_NOREPLACE here: link(2) fails with EEXIST too */
	if (fio_link(from, to) != 0)
		return -1;
	(void) fio_unlink(from);		/* a leftover temp file is removed at the next start */
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
	fd = fio_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
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
	if (fio_ftruncate(fd, 0) != 0 || fio_pwrite(fd, buf, n, 0) != n)
	{
		slog(SLOG_ERROR, "fsutil: could not write \"%s\": %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;					/* held open: the lock lives as long as we do */
}

int
fs_remove_tree(const char *path)
{
	DIR		   *d = opendir(path);
	struct dirent *de;
	int			err = 0;

	if (d == NULL)
	{
		if (errno == ENOENT)
			return 0;
		if (errno == ENOTDIR)
			return fio_unlink(path) == 0 || errno == ENOENT ? 0 : STRATA_EIO;
		slog(SLOG_WARNING, "could not open directory \"%s\": %m", path);
		return STRATA_EIO;
	}
	while ((de = readdir(d)) != NULL)
	{
		char		sub[PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
		{
			if (fs_remove_tree(sub) != 0)
				err = STRATA_EIO;
		}
		else if (fio_unlink(sub) != 0 && errno != ENOENT)
		{
			slog(SLOG_WARNING, "could not remove \"%s\": %m", sub);
			err = STRATA_EIO;
		}
	}
	closedir(d);
	if (fio_rmdir(path) != 0 && errno != ENOENT)
	{
		slog(SLOG_WARNING, "could not remove directory \"%s\": %m", path);
		err = STRATA_EIO;
	}
	return err;
}
