/*-------------------------------------------------------------------------
 *
 * rs_url.h
 *	  Where remote storage is (--remote-storage URL) and the keys that open
 *	  it (ARCHITECTURE.md 5.6, I20).
 *
 * Two forms:
 *	s3://BUCKET[/PREFIX][?endpoint=http[s]://HOST[:PORT]&region=REGION]
 *	file:///ABSOLUTE/PATH
 *
 * s3: BUCKET follows S3's naming rules (3-63 of a-z 0-9 . -, starting and
 * ending with a letter or digit).  PREFIX is a "directory" inside the
 * bucket: stored without leading or trailing '/', no empty, "." or ".."
 * component; every object key is PREFIX/KEY.  endpoint defaults to
 * https://s3.REGION.amazonaws.com, region to us-east-1.  Parameter values
 * may be percent-encoded; a parameter given twice or unknown is refused.
 * file: an absolute directory path (no "..", no query); trailing '/'
 * dropped.
 *
 * Secrets never travel in the URL: a URL is on a command line, in a
 * setting, in logs.  A user-info part ("KEY:SECRET@"), in the authority or
 * the endpoint, or a parameter that looks like a key or token is refused
 * with a message saying where keys go instead.
 *
 * Keys: rs_creds_load() takes them from a credentials file given by
 * option, else from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.  The file
 * is AWS's shared-credentials shape: "name = value" lines, '#' or ';'
 * comments, sections in brackets of which only "[default]" (or lines before
 * any section) count; aws_access_key_id and aws_secret_access_key are
 * required.  It must be a regular file of our uid with no group or other
 * access (secret.h's rules).  Session tokens are not supported.
 *
 * Pure functions, any thread; nothing is logged: errors go to err (errlen
 * bytes, a message naming the part that is wrong) and the return value is
 * 0 or STRATA_EINVAL (STRATA_ENOTFOUND / STRATA_EIO for an unreadable
 * credentials file).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_RS_URL_H
#define STRATA_RS_URL_H

#include <limits.h>
#include <stddef.h>

#define RS_BUCKET_MAX	64
#define RS_PREFIX_MAX	512
#define RS_ENDPOINT_MAX 256
#define RS_REGION_MAX	64
#define RS_KEY_MAX		256		/* an access key id or secret, with its NUL */

enum rs_kind
{
	RS_FILE = 1,
	RS_S3,
};

struct rs_url
{
	enum rs_kind kind;
	char		path[PATH_MAX]; /* file: the directory */
	char		bucket[RS_BUCKET_MAX];	/* s3 */
	char		prefix[RS_PREFIX_MAX];	/* s3: may be empty */
	char		endpoint[RS_ENDPOINT_MAX];	/* s3: "scheme://host[:port]" */
	char		region[RS_REGION_MAX];	/* s3 */
};

struct rs_creds
{
	char		access_key[RS_KEY_MAX];
	char		secret_key[RS_KEY_MAX];
};

extern int	rs_url_parse(const char *url, struct rs_url *out, char *err, size_t errlen);

/* The URL again, for log lines (it holds no secret). */
extern void rs_url_format(const struct rs_url *u, char *buf, size_t len);

/*
 * file: the credentials file, or NULL for the environment.  On failure
 * *out is zeroed.
 */
extern int	rs_creds_load(const char *file, struct rs_creds *out, char *err, size_t errlen);

/* Overwrite the keys (before freeing memory that held them). */
extern void rs_creds_clear(struct rs_creds *c);

#endif							/* STRATA_RS_URL_H */
