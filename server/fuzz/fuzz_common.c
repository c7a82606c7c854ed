/*-------------------------------------------------------------------------
 *
 * fuzz_common.c
 *	  Helpers shared by the libFuzzer targets (fuzz_common.h).
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "slog.h"

static char scratch[PATH_MAX];

void
fuzz_init(void)
{
	static int	done;

	if (done)
		return;
	done = 1;
	/* every rejected input logs a line; at millions per run that is the cost */
	if (getenv("STRATA_FUZZ_LOG") == NULL && slog_open("/dev/null") != 0)
		abort();
	slog_set_level(SLOG_DEBUG);
}

static void
write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, data, len);

		if (n <= 0)
		{
			perror("fuzz: write");
			abort();
		}
		data += n;
		len -= (size_t) n;
	}
}

int
fuzz_memfile(const uint8_t *data, size_t len, char path[PATH_MAX])
{
	int			fd = memfd_create("strata-fuzz", MFD_CLOEXEC);

	if (fd < 0)
	{
		perror("fuzz: memfd_create");
		abort();
	}
	write_all(fd, data, len);
	snprintf(path, PATH_MAX, "/proc/self/fd/%d", fd);
	return fd;
}

/* atexit: remove the scratch directory (it has no subdirectories). */
static void
remove_scratch(void)
{
	DIR		   *d = opendir(scratch);
	struct dirent *de;
	char		p[PATH_MAX + 256];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", scratch, de->d_name);
		(void) unlink(p);		/* best effort at exit: nothing to report to */
	}
	closedir(d);
	(void) rmdir(scratch);
}

const char *
fuzz_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (scratch[0] != '\0')
		return scratch;
	snprintf(scratch, sizeof(scratch), "%s/strata-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(scratch) == NULL)
	{
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(remove_scratch);
	return scratch;
}

void
fuzz_put_file(const char *name, const uint8_t *data, size_t len)
{
	char		p[PATH_MAX + 256];
	int			fd;

	snprintf(p, sizeof(p), "%s/%s", fuzz_dir(), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		perror("fuzz: open");
		abort();
	}
	write_all(fd, data, len);
	close(fd);
}

uint8_t *
fuzz_copy(const uint8_t *data, size_t len)
{
	uint8_t    *p = malloc(len ? len : 1);

	if (p == NULL)
		abort();
	if (len > 0)
		memcpy(p, data, len);
	return p;
}

void
fuzz_seal_crc(uint8_t *buf, size_t len)
{
	put_le32(buf + len, strata_crc32c(buf, len));
}
