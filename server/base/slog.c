/*-------------------------------------------------------------------------
 *
 * slog.c
 *	  stratad's log (see slog.h).
 *
 *-------------------------------------------------------------------------
 */
#include "slog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int	log_fd = 2;
static enum slog_level min_level = SLOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};

int
slog_open(const char *path)
{
	int			fd;

	if (path == NULL)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	log_fd = fd;
	return 0;
}

void
slog_set_level(enum slog_level level)
{
	min_level = level;
}

int
slog_parse_level(const char *s)
{
	for (int i = 0; i < 4; i++)
	{
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	}
	return -1;
}

void
slog(enum slog_level level, const char *fmt, ...)
{
	char		line[4096];
	struct timeval tv;
	struct tm	tm;
	size_t		n;
	va_list		ap;

	if (level < min_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - n, ".%03d UTC [%d] %s:  ",
				  (int) (tv.tv_usec / 1000), (int) getpid(), level_names[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, n < sizeof(line) ? sizeof(line) - n : 0, fmt, ap);
	va_end(ap);
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* a failed log write has nowhere to be reported */
	(void) !write(log_fd, line, n);
}
