/*-------------------------------------------------------------------------
 *
 * lsn.h
 *	  WAL positions as stratad sees them.
 *
 * An LSN is PostgreSQL's XLogRecPtr: a byte position in the WAL stream.
 * LSN_INVALID (0) is never a valid request LSN.  Printed like PostgreSQL,
 * "%X/%X" of the high and low halves.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_LSN_H
#define STRATA_LSN_H

#include <stdint.h>

typedef uint64_t lsn_t;

#define LSN_INVALID ((lsn_t) 0)
#define LSN_MAX		((lsn_t) UINT64_MAX)

/* Room for "FFFFFFFF/FFFFFFFF" and the NUL. */
#define LSN_STRLEN 18

/* Write lsn as "%X/%X" into buf (LSN_STRLEN bytes); returns buf. */
extern char *lsn_format(lsn_t lsn, char *buf);

/* Parse "%X/%X"; returns 0 or STRATA_EINVAL. */
extern int	lsn_parse(const char *s, lsn_t *out);

#endif							/* STRATA_LSN_H */
