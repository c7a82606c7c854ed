/*-------------------------------------------------------------------------
 *
 * slog.h
 *	  stratad's log: one line per event, with level and timestamp.
 *
 * "2026-11-23 23:20:01.123 UTC [pid] LEVEL:  module: message key=value".
 * Lines go to stderr or to the file given to slog_open(); each is written
 * with one write(2), so threads never interleave within a line.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_SLOG_H
#define STRATA_SLOG_H

enum slog_level
{
	SLOG_DEBUG = 0,
	SLOG_INFO,
	SLOG_WARNING,
	SLOG_ERROR,
};

/* Log to path (append), or stderr if NULL.  Returns 0 or -errno. */
extern int	slog_open(const char *path);
extern void slog_set_level(enum slog_level level);
/* Parse "debug", "info", "warning", "error"; -1 if unknown. */
extern int	slog_parse_level(const char *s);

extern void slog(enum slog_level level, const char *fmt, ...)
			__attribute__((format(printf, 2, 3)));

#endif							/* STRATA_SLOG_H */
