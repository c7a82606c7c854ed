/*-------------------------------------------------------------------------
 *
 * readahead.c
 *	  Sequential-read detection (see readahead.h).
 *
 * A few recently read relation forks are tracked, replaced round-robin:
 * enough for a scan plus its joins, and cheap to search.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/bufmgr.h"

#include "readahead.h"
#include "relsize.h"
#include "ring.h"
#include "stats.h"
#include "strata.h"

#define RA_TRACKED 8

typedef struct ra_stream
{
	RelFileNode rnode;
	ForkNumber	fork;
	BlockNumber next;			/* the block a sequential reader reads next */
	BlockNumber ahead;			/* prefetched up to here (exclusive) */
	int			window;
	bool		used;
} ra_stream;

static ra_stream streams[RA_TRACKED];
static int	next_victim;

static ra_stream *
lookup(RelFileNode rnode, ForkNumber fork)
{
	ra_stream  *s;

	for (int i = 0; i < RA_TRACKED; i++)
	{
		s = &streams[i];
		if (s->used && s->fork == fork && RelFileNodeEquals(s->rnode, rnode))
			return s;
	}
	s = &streams[next_victim];
	next_victim = (next_victim + 1) % RA_TRACKED;
	s->used = true;
	s->rnode = rnode;
	s->fork = fork;
	s->next = InvalidBlockNumber;
	s->ahead = 0;
	s->window = 0;
	return s;
}

void
readahead_note_read(SMgrRelation reln, ForkNumber fork, BlockNumber blk)
{
	ra_stream  *s;
	BlockNumber nblocks;
	BlockNumber end;
	int			max = Min(strata_readahead_max, strata_readahead_buffer_size / 2);

	if (fork != MAIN_FORKNUM || max <= 0)
		return;
	s = lookup(reln->smgr_rnode.node, fork);
	if (blk != s->next)
	{
		/* not sequential (yet): start over from here */
		s->next = blk + 1;
		s->ahead = blk + 1;
		s->window = 0;
		return;
	}
	s->next = blk + 1;
	if (s->window == 0)
		strata_count(SC_READAHEAD_WINDOWS, 1);
	s->window = s->window == 0 ? 2 : Min(s->window * 2, max);

	/* only within the size we know of; an unknown size means no readahead */
	if (!relsize_get(reln->smgr_rnode.node, fork, &nblocks) ||
		nblocks == RELSIZE_NOT_EXISTS)
		return;
	/*
	 * Top the window up only once half of it has been consumed, so that
	 * requests go out (and are batched by stratad) in groups rather than
	 * one per block read.
	 */
	if (s->ahead > blk + 1 && s->ahead - (blk + 1) > (BlockNumber) s->window / 2)
		return;
	end = Min((uint64) blk + 1 + s->window, nblocks);
	for (BlockNumber b = Max(s->ahead, blk + 1); b < end; b++)
		(void) PrefetchSharedBuffer(reln, fork, b);
	if (end > s->ahead)
		s->ahead = end;
	ring_flush();
}
