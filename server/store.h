/*-------------------------------------------------------------------------
 *
 * store.h
 *	  The vertical slice's storage: an append-only page log with an
 *	  in-memory index of every version (issue 4 replaces it with layers).
 *
 * DATADIR/pagelog starts with a 32-byte header, little-endian:
 *	0 8 magic "STRATALG", 8 4 version (1), 12 4 header length (32),
 *	16 12 zero, 28 4 CRC-32C of bytes 0..27
 * followed by records:
 *	0	4	record length, all fields included
 *	4	18	key (common/key.h, big-endian)
 *	22	8	LSN
 *	30	1	kind: 1 IMAGE (payload = 8192-byte page), 3 STRATA (payload =
 *			u8 op, u32 arg: create, truncate to arg, unlink, dropdb, reset)
 *	31	1	will_init (1 for images)
 *	32	n	payload
 *	32+n 4	CRC-32C of bytes 0..32+n-1
 * Replay applies records in order and cuts the log at the first short,
 * oversized or CRC-failing record (a torn tail; logged with file and
 * offset).  A bad header refuses to open: data is never silently wiped.
 *
 * Semantics per relation fork (ARCHITECTURE.md 3): create, extend (holes
 * read as zeros), write, truncate, unlink, dropdb, reset_unlogged; every
 * change gets stored LSN = max(request LSN, the key's previous LSN + 1)
 * (I7), and reads at LSN L see the newest version at or below L (I8).
 *
 * Writes are two-phase so callers can group them: store_prepare()
 * validates a change, assigns its LSN and encodes it into the pending
 * batch; store_commit() writes the whole batch to the kernel with one
 * write and only then applies it to the index, so nothing unacknowledged
 * is readable (I2).  A failed commit discards the batch and cuts the log
 * back; ENOSPC gives STRATA_ENOSPC, other errors STRATA_EIO, after which
 * the store refuses writes (no retry of a failed write or fsync).
 *
 * Single-threaded (the event loop) except store_sync(), which a sync
 * thread may call concurrently with appends.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include <stdint.h>

#include "lsn.h"
#include "proto.h"

struct store;

struct store_stats
{
	uint64_t	log_bytes;		/* written to the kernel */
	uint64_t	forks;			/* relation forks that exist */
	uint64_t	pages;			/* block versions indexed */
	lsn_t		last_record_lsn;
};

/* Open (creating if missing) and replay DATADIR/pagelog. */
extern int	store_open(const char *datadir, struct store **out);
extern void store_close(struct store *s);

/* Drop everything: the log is cut to its header and synced. */
extern int	store_reset(struct store *s);

/*
 * Validate req (a CREATE, WRITE, EXTEND, TRUNCATE, UNLINK, DROPDB or
 * RESET_UNLOGGED) and add it to the pending batch; *stored_lsn is its LSN.
 * STRATA_EBUSY means the batch already changes that key: commit first.
 * Other errors: STRATA_ENOTFOUND, STRATA_EEXIST, STRATA_EEOF,
 * STRATA_EINVAL, STRATA_EIO (the store failed earlier).
 */
extern int	store_prepare(struct store *s, const struct proto_req *req,
						  lsn_t *stored_lsn);

/* Write the pending batch and apply it; 0 if there was none. */
extern int	store_commit(struct store *s);

/* Whether a batch is pending, and its size in bytes. */
extern uint64_t store_pending_bytes(const struct store *s);

/* RESET_UNLOGGED result: relations reset by the last committed reset. */
extern uint32_t store_last_reset_count(const struct store *s);

/*
 * Reads at LSN lsn (LSN_MAX: the newest).  store_nblocks: STRATA_ENOTFOUND
 * if the fork does not exist.  store_getpage: STRATA_ENOTFOUND,
 * STRATA_EEOF, STRATA_ECORRUPT (record CRC, logged with offset),
 * STRATA_EIO.
 */
extern int	store_nblocks(struct store *s, const struct proto_rel *rel, lsn_t lsn,
						  uint32_t *nblocks);
extern int	store_getpage(struct store *s, const struct proto_rel *rel, uint32_t blk,
						  lsn_t lsn, uint8_t *page);
extern int64_t store_dbsize(struct store *s, uint32_t db);

/*
 * fdatasync the log; *synced gets the offset covered.  Thread-safe against
 * appends.  A failure marks the store failed for writes.
 */
extern int	store_sync(struct store *s, uint64_t *synced);
extern uint64_t store_written(const struct store *s);

extern void store_get_stats(const struct store *s, struct store_stats *st);

#endif							/* STRATA_STORE_H */
