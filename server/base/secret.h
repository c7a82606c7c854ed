/*-------------------------------------------------------------------------
 *
 * secret.h
 *	  Secrets kept in files: read and check a token file, create a random
 *	  one, compare tokens in constant time (ARCHITECTURE.md I20).
 *
 * A token file holds one token (printable, no spaces; a final newline is
 * ignored) of at most SECRET_MAX - 1 bytes.  It must be a regular file
 * that neither its group nor others may read or write (mode 0600 or
 * stricter) and, when the caller says so, owned by our effective uid:
 * a file someone else can read or replace holds no secret.  These are
 * the rules libpq applies to ~/.pgpass and ssh to its keys.
 *
 * Every function returns 0 or a negative strata_err and logs nothing:
 * the caller names the file in its own message (errbuf gets the reason).
 * Any thread.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_SECRET_H
#define STRATA_SECRET_H

#include <stddef.h>

#define SECRET_MAX 256
#define SECRET_RANDOM_BYTES 32	/* a created token: 64 hex digits */

/*
 * Read the token in path into buf (SECRET_MAX bytes).  STRATA_ENOTFOUND
 * if the file does not exist, STRATA_EINVAL if it breaks a rule above or
 * is empty, STRATA_EIO if it cannot be read; errbuf (errlen bytes) then
 * says why.
 */
extern int	secret_read_file(const char *path, int check_owner, char *buf,
							 char *errbuf, size_t errlen);

/*
 * Create path (O_EXCL, mode 0600, fsynced with its directory) holding a
 * new random token from getrandom(2), also copied to buf.  STRATA_EEXIST
 * if it exists already.
 */
extern int	secret_create_file(const char *path, char *buf, char *errbuf, size_t errlen);

/* Whether a equals b; the time taken does not depend on where they differ. */
extern int	secret_equal(const char *a, const char *b);

#endif							/* STRATA_SECRET_H */
