/*-------------------------------------------------------------------------
 *
 * remote.h
 *	  Remote storage backends (ARCHITECTURE.md 5.6): objects in an S3
 *	  bucket (rs_s3.c, libcurl with CURLOPT_AWS_SIGV4) or in a local
 *	  directory (rs_file.c), behind one blocking interface.
 *
 * Keys are relative to the URL's prefix (s3) or directory (file): one to
 * 1024 bytes of '/'-separated components, none empty, none starting with
 * '.', no control bytes or '\\'; anything else is STRATA_EINVAL.  (In a
 * file backend a key cannot also be a "directory" of another key.)
 *
 * Every operation blocks, may take long (retries), and so runs on the
 * remote pool (rs_pool.h), never on an event-loop thread.  A struct remote
 * is shared by any number of threads at once; S3 reuses connections
 * through a pool of curl handles.
 *
 * Results: 0 or a negative strata_err, and the same code in res->err with
 * a message naming the operation, the key and the cause (for S3 the HTTP
 * status and S3's error code and message):
 *	STRATA_ENOTFOUND		no such object
 *	STRATA_EPRECONDITION	REMOTE_IF_ABSENT and the object exists
 *	STRATA_EINVAL			bad key, or a range starting at or past the end
 *	STRATA_EREMOTE			refused for good (403, other 4xx, a missing bucket)
 *	STRATA_ETRANSIENT		network errors, 5xx, 429 or 503 SlowDown, still
 *							failing after cfg.max_attempts tries
 *	STRATA_ECANCELLED		remote_cancel() was called
 *	STRATA_EIO, STRATA_ENOSPC, STRATA_ENOMEM	local failures
 * Retries use exponential backoff with full jitter, from
 * cfg.backoff_base_ms up to cfg.backoff_max_ms; never on a 4xx other than
 * 429.  Retries are logged (WARNING); final failures are not: the caller
 * has the context.
 *
 * Puts are atomic: a reader sees the old object or the new one, whole.
 * Files at or above cfg.multipart_threshold go to S3 as a multipart upload
 * (parts of cfg.multipart_part_size; aborted on failure);
 * REMOTE_IF_ABSENT (create only if absent, If-None-Match: *) needs a
 * single-part put on S3 (STRATA_EINVAL at or above the threshold; file://
 * has no threshold).  Deleting an absent
 * object succeeds.  Listings are sorted by key and complete (every page).
 *
 * Metrics: plain counters (struct remote_metrics), updated atomically,
 * read with remote_metrics_read().
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_REMOTE_H
#define STRATA_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "rs_url.h"

#define REMOTE_KEY_MAX		1024
#define REMOTE_MESSAGE_MAX	512
#define REMOTE_WHOLE		UINT64_MAX	/* get: to the end of the object */

enum remote_put_flags
{
	REMOTE_IF_ABSENT = 1,
};

struct remote_config
{
	int			connect_timeout_ms; /* per attempt */
	int			timeout_ms;		/* one attempt (one HTTP request), in total */
	int			max_attempts;	/* tries per request, first included */
	int			backoff_base_ms;
	int			backoff_max_ms;
	uint64_t	multipart_threshold;	/* bytes */
	uint64_t	multipart_part_size;	/* bytes, at least 5 MiB (S3's minimum) */
	int			list_page_size; /* keys per LIST request, 1..1000 */
	int			max_handles;	/* idle curl handles kept (connections) */
};

/* connect 5 s, attempt 300 s, 8 attempts, 100 ms .. 10 s, 16 MiB / 8 MiB, 1000, 16 */
extern void remote_config_default(struct remote_config *cfg);

struct remote_result
{
	int			err;
	int			http_status;	/* last HTTP status (0: none, or file://) */
	int			attempts;		/* requests made, retries included */
	char		message[REMOTE_MESSAGE_MAX];
};

struct remote_object
{
	char	   *key;			/* relative to the prefix; owned by the listing */
	uint64_t	size;
};

struct remote_listing
{
	struct remote_object *objects;	/* sorted by key */
	size_t		n;
};

enum remote_opkind
{
	REMOTE_OP_PUT,
	REMOTE_OP_GET,
	REMOTE_OP_HEAD,
	REMOTE_OP_LIST,
	REMOTE_OP_DELETE,
	REMOTE_NOPS
};

struct remote_metrics
{
	uint64_t	ops_total[REMOTE_NOPS]; /* calls (delete_many: one per call) */
	uint64_t	failures_total[REMOTE_NOPS];	/* calls that failed; ENOTFOUND and
												 * EPRECONDITION are answers, not failures */
	uint64_t	requests_total; /* HTTP requests (file://: operations) */
	uint64_t	retries_total;
	uint64_t	bytes_sent_total;	/* object bytes */
	uint64_t	bytes_received_total;
};

struct remote;

/*
 * Open the backend of url with creds (s3 only; borrowed, copied).  file://
 * creates the directory (0700) if it is missing.  cfg NULL: defaults.
 * STRATA_EINVAL / STRATA_EIO / STRATA_ENOMEM with err saying why; nothing
 * is contacted yet.
 */
extern int	remote_open(const struct rs_url *url, const struct rs_creds *creds,
						const struct remote_config *cfg, struct remote **out,
						char *err, size_t errlen);
/* No operation may be running. */
extern void remote_close(struct remote *r);

/*
 * Any thread: running and later operations stop at their next retry wait
 * or transfer progress and fail with STRATA_ECANCELLED.
 */
extern void remote_cancel(struct remote *r);

extern int	remote_put_buf(struct remote *r, const char *key, const void *buf, size_t len,
						   int flags, struct remote_result *res);
/* The file's contents at the time of the call; it must not change meanwhile. */
extern int	remote_put_file(struct remote *r, const char *key, const char *path, int flags,
							struct remote_result *res);

/*
 * Bytes [off, off + len) of the object, cut at its end (len REMOTE_WHOLE:
 * to the end); off at or past the end of a non-empty object is
 * STRATA_EINVAL.  remote_get_buf(): *out is malloc'd (caller frees; NUL
 * after the data).  remote_get_file(): published at path like a local
 * file (temp, fsync, rename, directory fsync), never half written; the
 * temp file is PATH.download, so a path takes one download at a time.
 */
extern int	remote_get_buf(struct remote *r, const char *key, uint64_t off, uint64_t len,
						   void **out, size_t *outlen, struct remote_result *res);
extern int	remote_get_file(struct remote *r, const char *key, uint64_t off, uint64_t len,
							const char *path, struct remote_result *res);

extern int	remote_head(struct remote *r, const char *key, uint64_t *size,
						struct remote_result *res);

/* Every object whose key starts with prefix ("" for all). */
extern int	remote_list(struct remote *r, const char *prefix, struct remote_listing *out,
						struct remote_result *res);
extern void remote_listing_free(struct remote_listing *l);

extern int	remote_delete(struct remote *r, const char *key, struct remote_result *res);
/* S3: 1000 keys a request.  Fails naming the first key that could not go. */
extern int	remote_delete_many(struct remote *r, const char *const *keys, size_t n,
							   struct remote_result *res);

extern void remote_metrics_read(struct remote *r, struct remote_metrics *out);

/* 0 if key follows the rules above, else STRATA_EINVAL. */
extern int	remote_key_check(const char *key);

#endif							/* STRATA_REMOTE_H */
