/*-------------------------------------------------------------------------
 *
 * comm.h
 *	  This process's connection to stratad and its in-order request ring.
 *
 * One libpq connection per process, in COPY BOTH mode (proto.h).  Every
 * request takes a ring slot in send order; stratad answers in the same
 * order, so each response is matched to the oldest outstanding slot and
 * must echo it exactly (I6), else the connection is closed with ERROR.
 * Prefetched GETPAGEs stay in the ring until a read claims them or they
 * are evicted; nothing is ever cancelled, so an ERROR (query cancel,
 * statement_timeout) while waiting leaves the stream in sync: the
 * outstanding responses are consumed and dropped later.
 *
 * Waits use this process's latch and CHECK_FOR_INTERRUPTS(); requests that
 * change data (writes, extends, truncates, ...) hold interrupts while they
 * wait, so an acknowledged-or-not write is never abandoned halfway.  On a
 * lost connection the ring's outstanding requests are re-sent in order on
 * a new one with fresh request ids; if stratad stays unreachable for
 * strata.reconnect_timeout, the call fails with ERROR and the ring is
 * emptied.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_COMM_H
#define STRATA_COMM_H

#include "postgres.h"

#include "storage/block.h"
#include "storage/relfilenode.h"

#include "proto.h"

/* The outcome of a synchronous request. */
typedef struct comm_result
{
	bool		error;			/* stratad answered ERROR */
	uint16		errcode;		/* enum proto_errcode when error */
	char	   *errmsg;			/* palloc'd in CurrentMemoryContext */
	uint8		exists;
	uint32		nblocks;
	int64		dbsize;
	uint64		stored_lsn;
	uint32		count;
} comm_result;

extern struct proto_rel comm_rel(RelFileNode rnode, ForkNumber fork);

/*
 * Send req (not a prefetch) and wait for its response.  req->reqid is
 * assigned here; request_lsn must be set.  For WRITE/EXTEND req->page must
 * stay valid until return.  ERROR if stratad cannot be reached.
 */
extern void comm_call(struct proto_req *req, comm_result *res);

/*
 * Queue a GETPAGE for a block unless one is already in the ring.  nms is
 * the block's last-written LSN now.  Never waits for a response, but may
 * wait for a ring slot.
 */
extern void comm_prefetch(RelFileNode rnode, ForkNumber fork, BlockNumber blk);

/*
 * Read a block into buf: from a prefetched slot if its page is still
 * current (I9), else with a fresh GETPAGE.  Returns false with *res
 * describing stratad's error response.
 */
extern bool comm_read(RelFileNode rnode, ForkNumber fork, BlockNumber blk,
					  char *buf, comm_result *res);

/* Drop received-but-unclaimed pages of a relation (after truncate/unlink). */
extern void comm_forget_rel(RelFileNode rnode);

/* Send everything queued (the ring flushes itself every 8 requests). */
extern void comm_flush(void);

/* For the status view. */
extern void comm_ensure_connected(void);
extern const char *comm_target(void);
/* A ParameterStatus stratad reported at connect, or NULL. */
extern const char *comm_param(const char *name);
extern bool comm_connected(void);
extern int	comm_ring_in_flight(void);

/* ERROR with the SQLSTATE of stratad's error code ("could not <what>: ..."). */
extern void comm_error(const comm_result *res, const char *what)
			pg_attribute_noreturn();

#endif							/* STRATA_COMM_H */
