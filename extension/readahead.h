/*-------------------------------------------------------------------------
 *
 * readahead.h
 *	  Sequential-read detection feeding the request ring (ring.h).
 *
 * Stock PostgreSQL 15 sequential scans issue no prefetch, so every strata
 * read reports here; when a process reads a relation's main fork block
 * after block, it prefetches a window ahead that doubles up to
 * strata.readahead_max, skipping blocks already in shared buffers and
 * never past the cached relation size.  The window is topped up when half
 * of it is consumed, so requests leave in groups (one write, one batch).
 * Per process, no shared state.  Prefetching goes through shared buffers
 * to ring_prefetch(), so it fails only as the ring does (ERROR when
 * stratad stays unreachable).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_READAHEAD_H
#define STRATA_READAHEAD_H

#include "postgres.h"

#include "storage/smgr.h"

extern void readahead_note_read(SMgrRelation reln, ForkNumber fork, BlockNumber blk);

#endif							/* STRATA_READAHEAD_H */
