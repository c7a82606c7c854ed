/*-------------------------------------------------------------------------
 *
 * lwlsn.c
 *	  Shared last-written LSN per block, as an upper bound (ARCHITECTURE.md
 *	  2.3, I9).
 *
 * A direct-mapped array of atomics indexed by a hash of the block.  A
 * prefetched page is used only if its block's slot still holds the value
 * read when the request was sent, so every write must move the slot
 * strictly past anything a reader may have seen: advancing sets it to
 * max(slot + 1, lsn), never just max(slot, lsn).  (With max alone, a block
 * sharing a slot with a block whose stored LSN ran ahead of the WAL insert
 * position, as prev + 1 stamps do, could be rewritten without the slot
 * changing, and a stale prefetched page would pass: seen as VACUUM
 * keeping pages it had emptied.)  The slot stays an upper bound of the
 * block's last-written LSN, which is what the protocol's not_modified_since
 * needs.  Lock-free: readers load, writers CAS.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "port/atomics.h"
#include "storage/shmem.h"

#include "lwlsn.h"
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

	while (!pg_atomic_compare_exchange_u64(p, &cur, Max(cur + 1, lsn)))
		;
}
