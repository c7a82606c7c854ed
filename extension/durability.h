/*-------------------------------------------------------------------------
 *
 * durability.h
 *	  The durability path: making acknowledged writes crash-durable.
 *
 * stratad acknowledges a write once it is in its log and the kernel; a SYNC
 * makes everything acknowledged before it durable.  Every strata write
 * calls durability_register_write(): an ordinary write becomes a sync
 * request for the checkpointer, exactly like md's; a skipFsync write is
 * remembered by the process and synced at pre-commit / pre-prepare (I1).
 * strata_md_syncfiletag() is installed in syncsw (tablepatch.h) and runs in
 * the checkpointer.  write_gen and synced_gen in strata_shared (stats.h)
 * tell whether a SYNC is still needed.
 *
 * Failure: a failed SYNC is an ERROR, except in the checkpoint's sync
 * handler, where stratad's I/O and disk-full errors are reported as a
 * failed fsync (and become a PANIC there, as for md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_DURABILITY_H
#define STRATA_DURABILITY_H

#include "postgres.h"

#include "storage/relfilenode.h"
#include "storage/sync.h"

/* syncsw[SYNC_HANDLER_MD].sync_syncfiletag: SYNC unless already covered. */
extern int	strata_md_syncfiletag(const FileTag *ftag, char *path);

/* After stratad acknowledged a change of the fork; may send SYNC itself. */
extern void durability_register_write(RelFileNode rnode, ForkNumber fork, bool skipFsync);

/*
 * After stratad acknowledged a change without pages (CREATE, UNLINK,
 * DROPDB, RESET_UNLOGGED): the next checkpoint's SYNC covers it.
 */
extern void durability_register_change(void);

/* Postmaster, _PG_init: register the transaction callback. */
extern void durability_init(void);

/* send SYNC now; ERROR on failure */
extern void durability_sync_now(void);

#endif							/* STRATA_DURABILITY_H */
