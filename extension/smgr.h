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

/*
 * How the running server's md.c truncates.  PostgreSQL 15.11 added an
 * old_blocks argument to mdtruncate() (and smgrtruncate2() to smgr.c); the
 * server calls the smgr_truncate slot with its own signature, so strata
 * installs the wrapper that matches.
 */
typedef enum smgr_truncate_abi
{
	SMGR_TRUNCATE_NBLOCKS,		/* 15.0-15.10: (reln, forknum, nblocks) */
	SMGR_TRUNCATE_OLD_BLOCKS	/* 15.11 on: (reln, forknum, old_blocks, nblocks) */
} smgr_truncate_abi;

/*
 * Decide from the server's version and, independently, from whether its
 * executable exports smgrtruncate2.  FATAL (errmsg, errdetail, errhint) if
 * the two disagree.  Postmaster, before tablepatch_install().
 */
extern smgr_truncate_abi smgr_choose_truncate_abi(int server_version_num);

/*
 * The callbacks for tablepatch_install(), with the truncate wrapper for
 * abi; a static table.
 */
extern const struct strata_f_smgr *strata_smgr_table(smgr_truncate_abi abi);

/* The LSN a change is stamped with: where WAL is now (I7 keeps it ordered). */
extern XLogRecPtr smgr_change_lsn(void);

#endif							/* STRATA_SMGR_H */
