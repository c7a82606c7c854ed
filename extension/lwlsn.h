/*-------------------------------------------------------------------------
 *
 * lwlsn.h
 *	  Shared cache of each block's last-written LSN, as an upper bound.
 *
 * A prefetched page may be used only if its block was not written since
 * the GETPAGE was sent (I9); this cache tells, for every process, without
 * locks.  Blocks share slots by hash, so a value may be higher than the
 * block's own last write, never lower.  No function fails.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_LWLSN_H
#define STRATA_LWLSN_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "storage/block.h"
#include "storage/relfilenode.h"

/* Postmaster, from the shmem request and startup hooks. */
extern Size lwlsn_shmem_size(void);
extern void lwlsn_shmem_init(void);

/*
 * An upper bound of the block's last-written LSN (collisions only raise
 * it); every lwlsn_advance() of the block moves it strictly upward, so
 * "unchanged since I asked" means "not written since I asked" (I9).
 */
extern XLogRecPtr lwlsn_get(RelFileNode rnode, ForkNumber fork, BlockNumber blk);
extern void lwlsn_advance(RelFileNode rnode, ForkNumber fork, BlockNumber blk,
						  XLogRecPtr lsn);

#endif							/* STRATA_LWLSN_H */
