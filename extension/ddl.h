/*-------------------------------------------------------------------------
 *
 * ddl.h
 *	  DDL handling: refused file-copying DDL and DROP DATABASE.
 *
 * CREATE DATABASE ... STRATEGY FILE_COPY and ALTER DATABASE ... SET
 * TABLESPACE copy relation files beneath the storage manager, so they are
 * refused with ERROR in a ProcessUtility hook.  DROP DATABASE does not
 * unlink relations through smgr, so DROPDB goes to stratad after it, and
 * again when its WAL record is replayed (strata_dbase_redo() wraps
 * dbase_redo in RmgrTable, tablepatch.h).  A failed DROPDB is an ERROR.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_DDL_H
#define STRATA_DDL_H

#include "postgres.h"

#include "access/xlogreader.h"

/* Postmaster, _PG_init: install the ProcessUtility hook. */
extern void ddl_init(void);

/* RmgrTable[RM_DBASE_ID].rm_redo: dbase_redo, then DROPDB if it dropped. */
extern void strata_dbase_redo(XLogReaderState *record);

#endif							/* STRATA_DDL_H */
