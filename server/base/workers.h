/*-------------------------------------------------------------------------
 *
 * workers.h
 *	  A pool of threads for work that may block on disk (page reads), so
 *	  one slow read never stalls the event loop that submitted it.
 *
 * A job's run() executes on some worker; its done() then executes on the
 * loop thread of the base the pool was started with, in completion order.
 * Jobs are embedded in the caller's structures (no allocation here) and
 * must stay valid until done() ran.  Every wait is a condition variable
 * (workers) or an event (the loop): nothing polls.
 *
 * workers_stop() lets queued and running jobs finish, runs their done()
 * and joins the threads; submitting after it is a bug.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_WORKERS_H
#define STRATA_WORKERS_H

#include <stdint.h>

struct event_base;
struct workers;

struct work
{
	void		(*run) (struct work *w);	/* on a worker thread */
	void		(*done) (struct work *w);	/* on the loop thread */
	struct work *next;
};

extern int	workers_start(struct event_base *base, int nthreads, struct workers **out);
extern void workers_submit(struct workers *ws, struct work *w);
extern void workers_stop(struct workers *ws);

/* Jobs submitted and not yet done (loop thread). */
extern uint64_t workers_pending(struct workers *ws);

#endif							/* STRATA_WORKERS_H */
