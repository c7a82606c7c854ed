/*-------------------------------------------------------------------------
 *
 * syncer.h
 *	  The sync thread: fdatasync of the page log off the event loop.
 *
 * syncer_request() asks for a sync of everything written so far; requests
 * made while one runs coalesce into the next (concurrent SYNCs share one
 * fdatasync).  When a sync finishes, done_cb runs on the event loop with
 * the offset it covered and its result.  A failed fdatasync is reported,
 * never retried (the store refuses writes afterwards).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_SYNCER_H
#define STRATA_SYNCER_H

#include <stdint.h>

struct event_base;
struct store;
struct syncer;

typedef void (*syncer_done_cb) (uint64_t synced, int err, double seconds, void *arg);

extern int	syncer_start(struct event_base *base, struct store *store,
						 syncer_done_cb cb, void *arg, struct syncer **out);
extern void syncer_request(struct syncer *sy);
/* Stops the thread after any running sync; the caller then syncs itself. */
extern void syncer_stop(struct syncer *sy);

#endif							/* STRATA_SYNCER_H */
