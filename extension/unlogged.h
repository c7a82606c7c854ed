/*-------------------------------------------------------------------------
 *
 * unlogged.h
 *	  Resetting unlogged relations in stratad after a crash.
 *
 * PostgreSQL resets unlogged relations after a crash by copying local init
 * fork files; ours are stubs.  So the postmaster flags a crash-restart (or
 * an unclean pg_control at start) in strata_shared, and the first process
 * that talks to stratad after recovery sends RESET_UNLOGGED, under
 * STRATA_LOCK_RESET so that it happens once.  A failed reset is an ERROR
 * and leaves the flag set, so the next request retries it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_UNLOGGED_H
#define STRATA_UNLOGGED_H

#include "postgres.h"

/* Postmaster, shmem startup hook: flag a reset if this start follows a crash. */
extern void unlogged_shmem_startup(void);

/* Called before each stratad request; does nothing in recovery. */
extern void unlogged_maybe_reset(void);

#endif							/* STRATA_UNLOGGED_H */
