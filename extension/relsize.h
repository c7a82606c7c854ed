/*-------------------------------------------------------------------------
 *
 * relsize.h
 *	  Shared cache of relation fork sizes.
 *
 * (rel, fork) -> nblocks or RELSIZE_NOT_EXISTS, in shared memory, for every
 * process.  stratad stays the source of truth: an entry may be dropped at
 * any time, and a miss just costs an NBLOCKS round trip.  Local changes set
 * entries after stratad acknowledged them; an NBLOCKS answer may fill an
 * entry only if no local change raced with the question (I10), which the
 * change counter tells.  One LWLock (STRATA_LOCK_RELSIZE) guards the hash;
 * no function fails.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_RELSIZE_H
#define STRATA_RELSIZE_H

#include "postgres.h"

#include "storage/block.h"
#include "storage/relfilenode.h"

#define RELSIZE_NOT_EXISTS InvalidBlockNumber

/* Postmaster, from the shmem request and startup hooks. */
extern Size relsize_shmem_size(void);
extern void relsize_shmem_init(void);

/* true and *nblocks (or RELSIZE_NOT_EXISTS) if cached */
extern bool relsize_get(RelFileNode rnode, ForkNumber fork, BlockNumber *nblocks);
extern void relsize_set(RelFileNode rnode, ForkNumber fork, BlockNumber nblocks);
/* raise a cached size to at least nblocks; no entry is created */
extern void relsize_extend(RelFileNode rnode, ForkNumber fork, BlockNumber nblocks);
/* change counter for I10: read before asking stratad, pass to set_if */
extern uint64 relsize_change_count(void);
extern void relsize_set_if_unchanged(RelFileNode rnode, ForkNumber fork,
									 BlockNumber nblocks, uint64 change_count);
extern void relsize_forget_rel(RelFileNode rnode);
extern void relsize_forget_db(Oid dbid);
extern void relsize_forget_all(void);

#endif							/* STRATA_RELSIZE_H */
