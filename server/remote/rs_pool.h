/*-------------------------------------------------------------------------
 *
 * rs_pool.h
 *	  The remote I/O pool: a fixed set of threads that run remote
 *	  operations (remote.h), which block for as long as retries take, off
 *	  every event loop (CONVENTIONS.md 5).
 *
 * A job's run() executes on a pool thread and then its done() on the same
 * thread, right after: completion is reported by a callback, not to a
 * loop.  The caller that owns the job's state (a timeline, on its loop)
 * brings the result home itself, typically with loopcall_post() from
 * done().  base/workers.c does not fit: its done() runs on the one loop
 * the pool was started with, and its queue has no bound.
 *
 * Bounded: at most `queue_max` jobs wait (running ones not counted);
 * rs_pool_submit() beyond that returns STRATA_EBUSY and the caller keeps
 * the job (the upload queue's concurrency limit normally keeps it far
 * below).  Jobs are embedded in the caller's structures (no allocation)
 * and must stay valid until done() has returned.
 *
 * rs_pool_stop(): refuses new jobs (STRATA_ESHUTDOWN), lets running and
 * queued ones finish (cancel the remote first, remote_cancel(), to make
 * that quick) and joins the threads.  Any thread may submit; stop from a
 * thread that is not a pool thread.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_RS_POOL_H
#define STRATA_RS_POOL_H

#include <stdint.h>

struct rs_job
{
	void		(*run) (struct rs_job *job);	/* pool thread */
	void		(*done) (struct rs_job *job);	/* pool thread, after run */
	struct rs_job *next;		/* private */
};

struct rs_pool;

/* 0, STRATA_EINVAL (nthreads or queue_max < 1) or STRATA_ENOMEM (logged). */
extern int	rs_pool_start(int nthreads, int queue_max, struct rs_pool **out);
extern int	rs_pool_submit(struct rs_pool *p, struct rs_job *job);
extern void rs_pool_stop(struct rs_pool *p);

/* Jobs queued and not yet taken by a thread. */
extern int	rs_pool_queued(struct rs_pool *p);

#endif							/* STRATA_RS_POOL_H */
