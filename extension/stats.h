/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Shared memory, counters and the SQL functions behind the strata views.
 *
 * strata_shared is one struct in shared memory, created by the postmaster
 * (stats_shmem_init() from the shmem startup hook) and inherited by every
 * child; each field's comment names the module that owns it.  Counters are
 * cluster-wide atomics since the server started, bumped by any process
 * with strata_count(); they never fail and are never reset.  strata_stats()
 * and strata_status() are the SQL functions behind the strata views.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_STATS_H
#define STRATA_STATS_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/lwlock.h"

/* ---------- counters ---------- */
typedef enum strata_counter
{
	SC_REQUESTS,				/* all requests sent */
	SC_GETPAGE,
	SC_WRITE,
	SC_EXTEND,
	SC_NBLOCKS,
	SC_EXISTS,
	SC_CREATE,
	SC_TRUNCATE,
	SC_UNLINK,
	SC_SYNC,
	SC_DBSIZE,
	SC_DROPDB,
	SC_RESET_UNLOGGED,
	SC_BYTES_SENT,
	SC_BYTES_RECEIVED,
	SC_PREFETCH_REQUESTS,		/* GETPAGEs sent ahead of need */
	SC_PREFETCH_HITS,			/* reads served from a prefetched slot */
	SC_PREFETCH_EXPIRED,		/* prefetched page too old, re-read */
	SC_PREFETCH_UNUSED,			/* prefetched page evicted unread */
	SC_READAHEAD_WINDOWS,		/* sequential runs detected */
	SC_READ_MISSES,				/* reads that waited for a fresh GETPAGE */
	SC_RELSIZE_HITS,
	SC_RELSIZE_MISSES,
	SC_CONNECTS,
	SC_RECONNECTS,
	SC_ERRORS,					/* error responses from stratad */
	SC_CHECKPOINT_SYNCS,
	SC_COMMIT_SYNCS,
	SC_FC_HITS,					/* file cache: reads served from it */
	SC_FC_MISSES,				/* reads it could not serve */
	SC_FC_WRITES,				/* acknowledged writes copied into it */
	SC_FC_STORES,				/* pages from stratad stored in it */
	SC_FC_STALE_SKIPS,			/* answers not stored: a change raced them */
	SC_FC_EVICTIONS,			/* chunks evicted (clock sweep or shrink) */
	SC_FC_INVALIDATIONS,		/* chunks dropped or cut by DDL */
	SC_FC_CORRUPT,				/* damaged cached pages dropped */
	SC_FC_IO_ERRORS,			/* failed reads or writes of the cache file */
	SC_NCOUNTERS
} strata_counter;

/* ---------- shared state ---------- */
typedef struct StrataShared
{
	pg_atomic_uint64 counters[SC_NCOUNTERS];

	/* durability: writes acknowledged, and the count covered by a SYNC */
	pg_atomic_uint64 write_gen;
	pg_atomic_uint64 synced_gen;

	/* unlogged: set after a crash; the first normal process resets */
	pg_atomic_uint32 need_unlogged_reset;

	/* conn: stratad's durability epoch as first seen (0 = not yet) */
	pg_atomic_uint32 durability_epoch;

	/* supervisor: the embedded stratad */
	pg_atomic_uint32 stratad_pid;
	pg_atomic_uint32 stratad_starts;

	/* Locks: LOCK_RELSIZE guards the relsize hash; LOCK_RESET the reset. */
	LWLockPadded *locks;
} StrataShared;

#define STRATA_LOCK_RELSIZE 0
#define STRATA_LOCK_RESET	1
#define STRATA_NLOCKS		2

extern StrataShared *strata_shared;

static inline void
strata_count(strata_counter c, uint64 n)
{
	pg_atomic_fetch_add_u64(&strata_shared->counters[c], n);
}

extern const char *strata_counter_name(strata_counter c);

/* Postmaster, from the shmem request and startup hooks. */
extern Size stats_shmem_size(void);
extern void stats_shmem_init(void);

#endif							/* STRATA_STATS_H */
