/*-------------------------------------------------------------------------
 *
 * tablepatch.h
 *	  Verified in-place patching of the stock server's dispatch tables.
 *
 * PostgreSQL 15 has no hook for the storage manager, the checkpoint's sync
 * handlers or the built-in size functions, so strata finds their tables in
 * the server executable by content and swaps its own functions in
 * (ARCHITECTURE.md 2.1, shared/spikes/smgr-patch).  Everything is located
 * and checked before the first word is written; anything that does not
 * match exactly once is FATAL (I12).  Postmaster only, before any fork:
 * children inherit the patched pages.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_TABLEPATCH_H
#define STRATA_TABLEPATCH_H

#include "postgres.h"

#include "access/xlogreader.h"
#include "fmgr.h"
#include "storage/smgr.h"
#include "storage/sync.h"

/*
 * PostgreSQL 15's private f_smgr (src/backend/storage/smgr/smgr.c).  The
 * designated initializers that fill it make the compiler check every md.c
 * signature against the headers we build with.
 */
typedef struct strata_f_smgr
{
	void		(*smgr_init) (void);
	void		(*smgr_shutdown) (void);
	void		(*smgr_open) (SMgrRelation reln);
	void		(*smgr_close) (SMgrRelation reln, ForkNumber forknum);
	void		(*smgr_create) (SMgrRelation reln, ForkNumber forknum,
								bool isRedo);
	bool		(*smgr_exists) (SMgrRelation reln, ForkNumber forknum);
	void		(*smgr_unlink) (RelFileNodeBackend rnode, ForkNumber forknum,
								bool isRedo);
	void		(*smgr_extend) (SMgrRelation reln, ForkNumber forknum,
								BlockNumber blocknum, char *buffer, bool skipFsync);
	bool		(*smgr_prefetch) (SMgrRelation reln, ForkNumber forknum,
								  BlockNumber blocknum);
	void		(*smgr_read) (SMgrRelation reln, ForkNumber forknum,
							  BlockNumber blocknum, char *buffer);
	void		(*smgr_write) (SMgrRelation reln, ForkNumber forknum,
							   BlockNumber blocknum, char *buffer, bool skipFsync);
	void		(*smgr_writeback) (SMgrRelation reln, ForkNumber forknum,
								   BlockNumber blocknum, BlockNumber nblocks);
	BlockNumber (*smgr_nblocks) (SMgrRelation reln, ForkNumber forknum);
	/* 15.11's signature; on 15.0-15.10 the slot holds a three-argument
	 * function cast to this type (smgr.h, smgr_truncate_abi) */
	void		(*smgr_truncate) (SMgrRelation reln, ForkNumber forknum,
								  BlockNumber old_blocks, BlockNumber nblocks);
	void		(*smgr_immedsync) (SMgrRelation reln, ForkNumber forknum);
} strata_f_smgr;

/* A replacement for one fmgr_builtins entry, found by its funcName. */
typedef struct strata_builtin_patch
{
	const char *name;			/* pg_proc.prosrc of the built-in */
	PGFunction	real;			/* the executable's exported function */
	PGFunction	replacement;
} strata_builtin_patch;

/*
 * Locate, verify and patch, in that order:
 *	- smgrsw[0]: md's entry is replaced by *smgr (slots equal to md's are
 *	  left alone);
 *	- syncsw[SYNC_HANDLER_MD].sync_syncfiletag by md_sync;
 *	- each builtins[i] entry of fmgr_builtins (and needs_fmgr_hook is set
 *	  so JIT-compiled calls of those OIDs go through fmgr too);
 *	- RmgrTable[RM_DBASE_ID].rm_redo, which must be dbase_redo, by
 *	  dbase_redo_wrapper.
 * After writing, each size function's OID must resolve through fmgr_info()
 * to its replacement and RmgrTable must redo through the wrapper.
 * FATAL on any mismatch.  Logs one LOG line.
 */
extern void tablepatch_install(const strata_f_smgr *smgr,
						  int (*md_sync) (const FileTag *ftag, char *path),
						  const strata_builtin_patch *builtins, int nbuiltins,
						  void (*dbase_redo_wrapper) (XLogReaderState *record));

#endif							/* STRATA_TABLEPATCH_H */
