/*-------------------------------------------------------------------------
 *
 * secret.c
 *	  Token files and constant-time comparison (see secret.h).
 *
 *-------------------------------------------------------------------------
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "strata_err.h"

/* The rules of secret.h on an open file; 0 or STRATA_EINVAL. */
static int
check_mode(int fd, int check_owner, char *errbuf, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
	{
		snprintf(errbuf, errlen, "could not stat it: %s", strerror(errno));
		return STRATA_EIO;
	}
	if (!S_ISREG(st.st_mode))
	{
		snprintf(errbuf, errlen, "it is not a regular file");
		return STRATA_EINVAL;
	}
	if (check_owner && st.st_uid != geteuid())
	{
		snprintf(errbuf, errlen, "it is owned by uid %u, not by this process's uid %u",
				 (unsigned) st.st_uid, (unsigned) geteuid());
		return STRATA_EINVAL;
	}
	if ((st.st_mode & 077) != 0)
	{
		snprintf(errbuf, errlen, "its mode is %04o; group and others must have no access "
				 "(chmod 0600)", (unsigned) (st.st_mode & 07777));
		return STRATA_EINVAL;
	}
	return 0;
}

int
secret_read_file(const char *path, int check_owner, char *buf, char *errbuf, size_t errlen)
{
	int			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t		n;
	int			err;

	buf[0] = '\0';
	if (fd < 0)
	{
		snprintf(errbuf, errlen, "could not open it: %s", strerror(errno));
		return errno == ENOENT ? STRATA_ENOTFOUND : errno == ELOOP ? STRATA_EINVAL : STRATA_EIO;
	}
	if ((err = check_mode(fd, check_owner, errbuf, errlen)) != 0)
	{
		close(fd);
		return err;
	}
	n = read(fd, buf, SECRET_MAX);
	close(fd);
	if (n < 0)
	{
		snprintf(errbuf, errlen, "could not read it: %s", strerror(errno));
		return STRATA_EIO;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= SECRET_MAX)
	{
		snprintf(errbuf, errlen, n == 0 ? "it is empty" : "it is longer than %d bytes",
				 SECRET_MAX - 1);
		buf[0] = '\0';
		return STRATA_EINVAL;
	}
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
	{
		if (buf[i] <= ' ' || buf[i] > '~')
		{
			snprintf(errbuf, errlen, "it holds a space or a non-printable byte");
			buf[0] = '\0';
			return STRATA_EINVAL;
		}
	}
	return 0;
}

int
secret_create_file(const char *path, char *buf, char *errbuf, size_t errlen)
{
	unsigned char raw[SECRET_RANDOM_BYTES];
	char		dir[PATH_MAX];
	char		text[2 * SECRET_RANDOM_BYTES + 2];
	size_t		got = 0;
	int			fd;
	int			save;

	while (got < sizeof(raw))
	{
		ssize_t		n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0 && errno != EINTR)
		{
			snprintf(errbuf, errlen, "getrandom failed: %s", strerror(errno));
			return STRATA_EIO;
		}
		if (n > 0)
			got += (size_t) n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(text + 2 * i, 3, "%02x", raw[i]);
	memset(raw, 0, sizeof(raw));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		save = errno;
		snprintf(errbuf, errlen, "could not create it: %s", strerror(save));
		return save == EEXIST ? STRATA_EEXIST : STRATA_EIO;
	}
	snprintf(buf, SECRET_MAX, "%s", text);
	strcat(text, "\n");
	if (write(fd, text, strlen(text)) != (ssize_t) strlen(text) || fsync(fd) != 0)
	{
		save = errno;
		close(fd);
		(void) unlink(path);	/* a torn token file would be refused next time */
		snprintf(errbuf, errlen, "could not write it: %s", strerror(save));
		buf[0] = '\0';
		return STRATA_EIO;
	}
	close(fd);
	snprintf(dir, sizeof(dir), "%s", path);
	if (fs_fsync_dir(dirname(dir)) != 0)
	{
		snprintf(errbuf, errlen, "could not sync its directory");
		return STRATA_EIO;
	}
	return 0;
}

int
secret_equal(const char *a, const char *b)
{
	size_t		alen = strlen(a);
	size_t		blen = strlen(b);
	unsigned	diff = alen != blen;

	/* every byte of b is looked at whatever a holds */
	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char) (i < alen ? a[i] : 0) ^ (unsigned char) b[i];
	return diff == 0;
}
