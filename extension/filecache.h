/*-------------------------------------------------------------------------
 *
 * filecache.h
 *	  The compute's local file cache: a file on local disk, between shared
 *	  buffers and stratad (ARCHITECTURE.md 5.8, issue 17 phase 1).
 *
 * Phase 1 is a write-through read cache.  A shared-buffers miss reads the
 * cache first (fc_read); a cache miss asks stratad through the ring, and
 * the ring stores every current GETPAGE answer here (fc_store), prefetched
 * ones included.  A page write first reaches stratad; once stratad
 * acknowledged it, the new image is written here too (fc_write).  So the
 * cache never holds a page stratad does not have, and stratad stays the
 * only durable copy: the cache is only ever an optimisation.
 *
 * Layout: the file (strata.file_cache_path) is an array of chunks of
 * FC_CHUNK_BLOCKS blocks (256 KiB); chunk slot i lives at byte offset
 * i * FC_CHUNK_SIZE, block b of it at + b * BLCKSZ.  The file has no header
 * and no persistent meaning: the index is in shared memory only, and the
 * file is truncated to zero and flock'ed by the postmaster at every start
 * and every crash-restart (fc_shmem_startup), so its content is never
 * trusted after any kind of crash.  A second postmaster on the same file
 * fails with FATAL.
 *
 * Index: a partitioned shared hash (rel, fork, chunk number) -> slot under
 * FC_PARTITIONS LWLocks, and per slot a spinlock guarding its state: pins,
 * clock-sweep usage count, and per block a valid bit, a busy bit (a store
 * in progress), a generation number and the CRC-32C of the stored image.
 * Lookups take their partition lock shared; no lock is held across
 * pread/pwrite: the slot is pinned (a pinned slot is never reassigned) and
 * a reader checks afterwards that the block's generation did not change
 * while it read.  A slot's key changes only with both its old and new
 * partition locks held (in partition order, as bufmgr's BufferAlloc()).
 *
 * Invariants:
 *	- FC1: a valid cached block is never older than the newest
 *	  acknowledged write of that block.  Writers bump the block's
 *	  generation before touching it, so a store that raced a write (or an
 *	  invalidation) is never marked valid.
 *	- FC2: a page from stratad is stored only if its block was not written
 *	  since the GETPAGE was queued (last-written LSN <= the request's nms,
 *	  checked with the block busy) and no invalidation happened since then
 *	  (the ticket, fc_ticket(), taken when the request is queued).
 *	- FC3: a damaged cached page (CRC mismatch or PageIsVerifiedExtended()
 *	  failure) is never returned: it is dropped and counted, and the read
 *	  goes to stratad.
 *
 * Failures: nothing here raises an ERROR (truncate calls us inside a
 * critical section).  I/O errors on the cache file are WARNINGs and turn
 * the operation into a miss, leaving the block invalid.  A failure to open
 * or lock the file at start is FATAL.
 *
 * Cost: invalidation by relation (truncate, unlink), by database (DROP
 * DATABASE) or of everything (unlogged reset) scans every slot, taking
 * each slot's spinlock: O(slots), about 4,096 for 1 GB, so microseconds
 * per DDL statement; a 100 GB cache would make it a few milliseconds.
 *
 * Callable from any process attached to shared memory except the
 * postmaster (which only runs the shmem hooks and the limit's assign hook).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_FILECACHE_H
#define STRATA_FILECACHE_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "storage/block.h"
#include "storage/relfilenode.h"

#define FC_CHUNK_BLOCKS 32
#define FC_CHUNK_SIZE	(FC_CHUNK_BLOCKS * BLCKSZ)
#define FC_PARTITIONS	64

/* GUCs (strata.file_cache_*), defined by fc_define_gucs() */
extern int	strata_file_cache_size_mb;
extern int	strata_file_cache_size_limit_mb;
extern char *strata_file_cache_path;

/* Postmaster: GUCs from _PG_init, then the shmem request and startup hooks. */
extern void fc_define_gucs(void);
extern Size fc_shmem_size(void);
extern void fc_shmem_request(void);
extern void fc_shmem_startup(void);

/*
 * Read a block from the cache into buf (BLCKSZ bytes).  true on a hit; on
 * false buf's content is undefined and the caller asks stratad.
 */
extern bool fc_read(RelFileNode rnode, ForkNumber fork, BlockNumber blk, char *buf);

/* Whether a block is cached now (a hint: for skipping prefetches). */
extern bool fc_contains(RelFileNode rnode, ForkNumber fork, BlockNumber blk);

/*
 * The invalidation ticket to remember with a GETPAGE when it is queued,
 * and to pass to fc_store() with its answer (FC2).
 */
extern uint64 fc_ticket(void);

/*
 * Store a page stratad sent for a GETPAGE queued with last-written LSN nms
 * and ticket; silently not stored if that could be stale (FC2), if no slot
 * is free, or on an I/O error.
 */
extern void fc_store(RelFileNode rnode, ForkNumber fork, BlockNumber blk,
					 const char *page, XLogRecPtr nms, uint64 ticket);

/*
 * After stratad acknowledged a write or extend of the block (and after
 * lwlsn_advance()): put the new image in the cache.  On return the cached
 * block is either this image or invalid (FC1).
 */
extern void fc_write(RelFileNode rnode, ForkNumber fork, BlockNumber blk,
					 const char *page);

/*
 * After stratad acknowledged the change: drop a fork's blocks from nblocks
 * on (truncate; 0 with fork = InvalidForkNumber drops every fork: unlink),
 * a database's blocks, or everything (unlogged reset).
 */
extern void fc_forget_rel(RelFileNode rnode, ForkNumber fork, BlockNumber nblocks);
extern void fc_forget_db(Oid dbid);
extern void fc_forget_all(void);

/* Gauges for strata_stats */
extern uint64 fc_used_bytes(void);
extern uint64 fc_limit_bytes(void);

#endif							/* STRATA_FILECACHE_H */
