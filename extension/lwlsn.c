/*-------------------------------------------------------------------------
 *
 * lwlsn.c
 *	  Shared last-written LSN per block, as an upper bound (ARCHITECTURE.md
 *	  2.3, I9).
 *
 * A direct-mapped array of atomics indexed by a hash of the block.  Values
 * only grow; two blocks that share a slot share the larger LSN, which can
 * only make a prefetched page look stale (a re-read), never make a stale
 * page look current.  Lock-free: readers load, writers CAS to the max.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "storage/shmem.h"

#include "strata.h"

static pg_atomic_uint64 *lwlsn;

Size
lwlsn_shmem_size(void)
{
	return mul_size(strata_lwlsn_cache_size, sizeof(pg_atomic_uint64));
}

void
lwlsn_shmem_init(void)
{
	bool		found;

	lwlsn = ShmemInitStruct("strata last-written LSNs", lwlsn_shmem_size(), &found);
	if (!found)
	{
		for (int i = 0; i < strata_lwlsn_cache_size; i++)
			pg_atomic_init_u64(&lwlsn[i], 0);
	}
}

static pg_atomic_uint64 *
slot_for(RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	uint32		k[5] = {rnode.spcNode, rnode.dbNode, rnode.relNode, (uint32) fork, blk};

	return &lwlsn[hash_bytes((const unsigned char *) k, sizeof(k)) %
				  (uint32) strata_lwlsn_cache_size];
}

XLogRecPtr
lwlsn_get(RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	return pg_atomic_read_u64(slot_for(rnode, fork, blk));
}

void
lwlsn_advance(RelFileNode rnode, ForkNumber fork, BlockNumber blk, XLogRecPtr lsn)
{
	pg_atomic_uint64 *p = slot_for(rnode, fork, blk);
	uint64		cur = pg_atomic_read_u64(p);

	while (cur < lsn && !pg_atomic_compare_exchange_u64(p, &cur, lsn))
		;
}
