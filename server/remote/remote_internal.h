/*-------------------------------------------------------------------------
 *
 * remote_internal.h
 *	  What remote.c shares with its backends (rs_file.c, rs_s3.c): the
 *	  operations table, object sources and sinks, result and metrics
 *	  helpers, and the retry wait.  Private to server/remote/.
 *
 * remote.c checks keys, counts operations and failures, turns a file or a
 * buffer into a source and a buffer or a temp file into a sink, and
 * publishes downloaded files; a backend only moves bytes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_REMOTE_INTERNAL_H
#define STRATA_REMOTE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>

#include "remote.h"

/* Where an upload's bytes come from: a buffer, or a file read with pread. */
struct rs_src
{
	const uint8_t *buf;			/* or NULL */
	int			fd;				/* if buf is NULL */
	uint64_t	size;
};

/* Read n bytes at off (within size); 0 or STRATA_EIO. */
extern int	rs_src_read(const struct rs_src *src, uint64_t off, void *out, size_t n);

/* Where a download goes: a growing buffer, or a file written in order. */
struct rs_sink
{
	uint8_t    *buf;			/* malloc'd, NUL after len */
	size_t		len;
	size_t		cap;
	int			fd;				/* >= 0: a file instead of buf */
	uint64_t	written;
};

extern int	rs_sink_write(struct rs_sink *s, const void *data, size_t n);
/* Drop what a failed attempt wrote. */
extern int	rs_sink_reset(struct rs_sink *s);

struct remote_ops
{
	int			(*put) (struct remote *r, const char *key, const struct rs_src *src, int flags,
						struct remote_result *res);
	int			(*get) (struct remote *r, const char *key, uint64_t off, uint64_t len,
						struct rs_sink *sink, struct remote_result *res);
	int			(*head) (struct remote *r, const char *key, uint64_t *size,
						 struct remote_result *res);
	int			(*list) (struct remote *r, const char *prefix, struct remote_listing *out,
						 struct remote_result *res);
	int			(*del) (struct remote *r, const char *const *keys, size_t n,
						struct remote_result *res);
	void		(*close) (struct remote *r);
};

struct remote
{
	const struct remote_ops *ops;
	struct remote_config cfg;
	void	   *impl;			/* the backend's state */
	struct remote_metrics metrics;	/* __atomic_* only */
	pthread_mutex_t cancel_mu;	/* protects cancelled, with cancel_cv */
	pthread_cond_t cancel_cv;
	int			cancelled;
};

/* The backends' constructors (cfg is already in r). */
extern int	rs_file_open(struct remote *r, const struct rs_url *url, char *err, size_t errlen);
extern int	rs_s3_open(struct remote *r, const struct rs_url *url, const struct rs_creds *creds,
					   char *err, size_t errlen);

/* Set res (err and message); returns err. */
extern int	rs_result(struct remote_result *res, int err, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static inline void
rs_count(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

extern int	rs_cancelled(struct remote *r);

/*
 * Sleep before attempt number `attempt` (2, 3, ...): a random time up to
 * min(base * 2^(attempt-2), max).  STRATA_ECANCELLED if remote_cancel()
 * came first or comes meanwhile, else 0.
 */
extern int	rs_backoff(struct remote *r, int attempt);

#endif							/* STRATA_REMOTE_INTERNAL_H */
