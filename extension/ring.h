/*-------------------------------------------------------------------------
 *
 * ring.h
 *	  This process's in-order request ring: every request to stratad goes
 *	  through here.
 *
 * Every request takes a ring slot in send order; stratad answers in the
 * same order, so each response is matched to the oldest outstanding slot
 * and must echo it exactly (I6), else the connection is closed with ERROR.
 * Prefetched GETPAGEs stay in the ring until a read claims them or they
 * are evicted; nothing is ever cancelled, so an ERROR (query cancel,
 * statement_timeout) while waiting leaves the stream in sync: the
 * outstanding responses are consumed and dropped later.
 *
 * Waits use this process's latch and CHECK_FOR_INTERRUPTS(); requests that
 * change data (writes, extends, truncates, ...) hold interrupts while they
 * wait, so an acknowledged-or-not write is never abandoned halfway.  On a
 * lost connection (conn.h) the ring's outstanding requests are re-sent in
 * order on a new one with fresh request ids; if stratad stays unreachable
 * for strata.reconnect_timeout, the call fails with ERROR and the ring is
 * emptied.
 *
 * Ownership: the slots and their page buffers are the ring's, allocated
 * once in TopMemoryContext (strata.readahead_buffer_size slots).  A
 * ring_result's errmsg is palloc'd in the caller's CurrentMemoryContext.
 * Per process, no shared state; backends and auxiliary processes only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_RING_H
#define STRATA_RING_H

#include "postgres.h"

#include "storage/block.h"
#include "storage/relfilenode.h"

#include "proto.h"

/* The outcome of a synchronous request. */
typedef struct ring_result
{
	bool		error;			/* stratad answered ERROR */
	uint16		errcode;		/* enum proto_errcode when error */
	char	   *errmsg;			/* palloc'd in CurrentMemoryContext */
	uint8		exists;
	uint32		nblocks;
	int64		dbsize;
	uint64		stored_lsn;
	uint32		count;
} ring_result;

/* The wire form of a relation fork. */
extern struct proto_rel ring_rel(RelFileNode rnode, ForkNumber fork);

/*
 * Send req (not a prefetch) and wait for its response.  req->reqid is
 * assigned here; request_lsn must be set.  For WRITE/EXTEND req->page must
 * stay valid until return.  ERROR if stratad cannot be reached.
 */
extern void ring_call(struct proto_req *req, ring_result *res);

/*
 * Queue a GETPAGE for a block unless one is already in the ring.  nms is
 * the block's last-written LSN now.  Never waits for a response, but may
 * wait for a ring slot.
 */
extern void ring_prefetch(RelFileNode rnode, ForkNumber fork, BlockNumber blk);

/*
 * Read a block into buf: from a prefetched slot if its page is still
 * current (I9), else with a fresh GETPAGE.  Returns false with *res
 * describing stratad's error response.
 */
extern bool ring_read(RelFileNode rnode, ForkNumber fork, BlockNumber blk,
					  char *buf, ring_result *res);

/* Drop received-but-unclaimed pages of a relation (after truncate/unlink). */
extern void ring_forget_rel(RelFileNode rnode);

/* Send everything queued (the ring flushes itself every 8 requests). */
extern void ring_flush(void);

/* For the status view: connect and re-send if needed; ERROR if we cannot. */
extern void ring_ensure_connected(void);
/* Requests sent whose response has not arrived yet. */
extern int	ring_in_flight(void);

#endif							/* STRATA_RING_H */
