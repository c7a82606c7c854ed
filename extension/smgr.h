/*-------------------------------------------------------------------------
 *
 * smgr.h
 *	  The strata storage manager.
 *
 * Temp relations stay on md; every other relation fork lives in stratad
 * (ARCHITECTURE.md 2.2).  The table is installed over md's smgrsw entry by
 * tablepatch_install() in the postmaster, and its callbacks then run in
 * every process that does relation I/O, failing the way md's do (ERROR,
 * WARNING for unlink, PANIC where md's caller is in a critical section).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_SMGR_H
#define STRATA_SMGR_H

#include "postgres.h"

#include "access/xlogdefs.h"

/* The callbacks, for tablepatch_install(); a static table. */
extern const struct strata_f_smgr *strata_smgr_table(void);

/* The LSN a change is stamped with: where WAL is now (I7 keeps it ordered). */
extern XLogRecPtr smgr_change_lsn(void);

#endif							/* STRATA_SMGR_H */
