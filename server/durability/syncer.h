/*-------------------------------------------------------------------------
 *
 * syncer.h
 *	  The sync thread: fdatasync of the write logs off the event loop.
 *
 * syncer_request() asks for a sync round of everything acknowledged so
 * far; requests made while one runs coalesce into the next (concurrent
 * SYNCs share one round).  Rounds are numbered; when one finishes, done_cb
 * runs on the event loop with its number and result.  A failed fdatasync is reported,
 * never retried (the store refuses writes afterwards).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_SYNCER_H
#define STRATA_SYNCER_H

#include <stdint.h>

struct event_base;
struct syncer;

/* Syncs everything acknowledged so far; runs on the sync thread. */
typedef int (*syncer_fn) (void *arg);
/* On the loop: round = the number of the sync round that finished. */
typedef void (*syncer_done_cb) (uint64_t round, int err, double seconds, void *arg);

extern int	syncer_start(struct event_base *base, syncer_fn fn, void *fn_arg,
						 syncer_done_cb cb, void *arg, struct syncer **out);
extern void syncer_request(struct syncer *sy);
/* The number the next round to start will have: it covers what is acknowledged now. */
extern uint64_t syncer_next_round(struct syncer *sy);
/* Stops the thread after any running sync; the caller then syncs itself. */
extern void syncer_stop(struct syncer *sy);

#endif							/* STRATA_SYNCER_H */
