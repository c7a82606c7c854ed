/*-------------------------------------------------------------------------
 *
 * strata_err.h
 *	  Error codes for stratad, stratactl and common code.
 *
 * A fallible function returns 0 or one of these negative codes; the
 * function that has the context logs it once.  strata_strerror() names
 * each code; it never returns NULL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_ERR_H
#define STRATA_ERR_H

enum strata_err
{
	STRATA_OK = 0,
	STRATA_EPROTO = -1,			/* malformed or truncated message */
	STRATA_ECORRUPT = -2,		/* checksum or structure check failed */
	STRATA_EVERSION = -3,		/* unsupported format or protocol version */
	STRATA_ENOSPC = -4,			/* disk full */
	STRATA_EIO = -5,			/* I/O error, fsync failure */
	STRATA_ENOTFOUND = -6,		/* unknown relation, tenant, timeline */
	STRATA_EEXIST = -7,			/* already exists */
	STRATA_EEOF = -8,			/* block at or past end of relation */
	STRATA_EINVAL = -9,			/* bad argument */
	STRATA_ENOMEM = -10,		/* allocation failed */
	STRATA_ESHUTDOWN = -11,		/* shutting down */
	STRATA_EREADONLY = -12,		/* read-only */
	STRATA_EUNSUPPORTED = -13,	/* not supported (yet) */
	STRATA_EBUSY = -14,			/* held by someone else */
	STRATA_ECANCELLED = -15,	/* cancelled by shutdown: not an error */
	STRATA_EINTERNAL = -16,		/* a bug */
	STRATA_EWOULDBLOCK = -17,	/* a no-wait read would have waited for the disk */
	STRATA_EPRECONDITION = -18, /* a conditional request failed (object exists) */
	STRATA_EREMOTE = -19,		/* remote storage refused the request: permanent */
	STRATA_ETRANSIENT = -20,	/* remote storage unreachable or failing, retries used up */
};

extern const char *strata_strerror(int err);

#endif							/* STRATA_ERR_H */
