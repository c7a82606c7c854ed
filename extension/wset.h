/*-------------------------------------------------------------------------
 *
 * wset.h
 *	  Working-set estimate: how many distinct pages reached the storage
 *	  manager recently, to size the local file cache (issue 17).
 *
 * A HyperLogLog sketch in shared memory with a sliding window: instead of
 * the largest rank seen, each register keeps, per rank, the last time a
 * page of that rank was seen, so a query can ask for the pages of any
 * recent interval (Neon's approximate_working_set_size_seconds() idea).
 * WS_BITS = 12 gives 4,096 registers (a standard error of about 1.6 %)
 * and 21 ranks each: 688 KiB of shared memory.
 *
 * Every page read (shared-buffers miss, served by the file cache or by
 * stratad) and every page written through strata is added; temp relations
 * are not.  Registers are updated without locks: a racing update may lose
 * one timestamp, which only makes the estimate a little low for an
 * instant.  Nothing here fails.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_WSET_H
#define STRATA_WSET_H

#include "postgres.h"

#include "storage/block.h"
#include "storage/relfilenode.h"

/* Postmaster, from the shmem request and startup hooks. */
extern Size ws_shmem_size(void);
extern void ws_shmem_init(void);

/* Any process attached to shared memory: note an access to a page. */
extern void ws_add(RelFileNode rnode, ForkNumber fork, BlockNumber blk);

#endif							/* STRATA_WSET_H */
