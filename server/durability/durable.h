/*-------------------------------------------------------------------------
 *
 * durable.h
 *	  The durability path of one page-service loop: group-write
 *	  acknowledgements, SYNC and the periodic sync (ARCHITECTURE.md 5.2).
 *
 * The contract a client gets:
 *
 *	- A write is acknowledged once its record is in the kernel (the
 *	  timeline's writer says so through its progress callback), never
 *	  before: readers never see unacknowledged data.  Writes queued in one
 *	  loop iteration are handed to each timeline's writer together, by a
 *	  low-priority event at the end of the iteration (the group write).
 *	- An acknowledged write is durable once a SYNC issued after its
 *	  acknowledgement has been answered: a SYNC waits for a sync round
 *	  (syncer.h) that started after it arrived, so the round covers every
 *	  write acknowledged before it.  Concurrent SYNCs share one round.
 *	- Every sync_interval_ms, if anything was acknowledged since the last
 *	  round, a round starts on its own, which bounds the kernel's dirty data.
 *	- A failed fdatasync is never retried: the kernel may have dropped the
 *	  dirty pages.  Every SYNC waiting then is answered with the error, the
 *	  identity records IDENTITY_FSYNC_FAILED (so the next start bumps the
 *	  durability epoch and computes replay their WAL), srv->exit_code
 *	  becomes 1, the owner's fail callback stops accepting connections, and
 *	  the main loop exits after a 200 ms grace so the answers get out.
 *
 * Ownership: struct durable is embedded in its page-service loop and all
 * of its fields are private to durable.c.  A waiter is allocated here and
 * freed here, after its callback ran (or at durable_stop()).  The timeline
 * a write waits on is borrowed: the owner must call durable_drop_writes()
 * when a timeline stops, and durable_forget() before freeing whatever a
 * callback argument points to.
 *
 * Threads: everything here runs on the thread dispatching the loop's
 * event_base, including every callback.  The sync itself runs on the
 * process-wide sync thread (srv->syncer), which durable_start() starts.
 *
 * Failure: durable_wait_write() and durable_wait_sync() return
 * STRATA_ENOMEM when no waiter can be allocated; the request is then not
 * queued and the caller answers it.  Write and sync failures reach the
 * callback as its err.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_DURABLE_H
#define STRATA_DURABLE_H

#include <stdint.h>

#include "workers.h"

struct event;
struct event_base;
struct server;
struct timeline;
struct durable_wait;

/*
 * A waiter is answered.  tl: the timeline of a write (NULL for a SYNC);
 * err: 0, or the write's failure (a negative strata_err), or the failed
 * sync round's.  Called once, unless the waiter was forgotten or dropped.
 */
typedef void (*durable_done_fn) (void *arg, struct timeline *tl, int err);
/* A write of arg's was dropped: its timeline stopped (never acknowledged). */
typedef void (*durable_drop_fn) (void *arg);
/* An fsync failed: stop taking new connections (ours will exit). */
typedef void (*durable_fail_fn) (void *arg);

struct durable
{
	/* private to durable.c */
	struct server *srv;			/* borrowed: exit_code, identity, metrics */
	struct event_base *base;	/* borrowed: the loop's */
	struct event *flush_ev;		/* low priority: the group write */
	struct event *sync_timer;	/* every srv->sync_interval_ms */
	struct durable_wait *write_waiters; /* in arrival order */
	struct durable_wait **write_tail;
	struct durable_wait *sync_waiters;
	uint64_t	synced_round;	/* newest round that succeeded */
	uint64_t	acks_since_sync;	/* writes acknowledged since the timer's last round */
	int			sync_running;	/* a round was requested and is not done */
	durable_fail_fn on_fail;
	void	   *fail_arg;
	struct event *fail_retry;	/* saving the failed-fsync flag again */
	uint32_t	fail_saves;		/* attempts that could not save it */
	struct work save_work;		/* the save, on a read worker (it syncs) */
	int			saving;
	int			save_err;
};

/*
 * Create the events, start srv->syncer (syncing srv->reg) and arm the
 * sync timer.  STRATA_ENOMEM if the sync thread cannot start; events not
 * created are not checked (as before the split).
 */
extern int	durable_start(struct durable *d, struct server *srv, struct event_base *base,
						  durable_fail_fn on_fail, void *fail_arg);

/*
 * Wait until write ticket (from tl_prepare()) of tl is in the kernel or
 * failed, then call done(arg, tl, err).  Schedules the group write.
 */
extern int	durable_wait_write(struct durable *d, struct timeline *tl, uint64_t ticket,
							   durable_done_fn done, void *arg);

/*
 * Wait until everything acknowledged so far is synced (or the sync
 * failed), then call done(arg, NULL, err).
 */
extern int	durable_wait_sync(struct durable *d, durable_done_fn done, void *arg);

/* tl's writer made progress: a tl_progress_fn, arg is the struct durable. */
extern void durable_tl_progress(struct timeline *tl, void *arg);

/* arg is going away: its waiters stay queued but call nobody. */
extern void durable_forget(struct durable *d, const void *arg);

/*
 * tl is stopping: its waiting writes are never acknowledged; dropped(arg)
 * runs for each that still had an argument.
 */
extern void durable_drop_writes(struct durable *d, struct timeline *tl, durable_drop_fn dropped);

/* Hand every timeline's queued writes to its writer now. */
extern void durable_flush(struct durable *d);

/*
 * Free every waiter (no callbacks), stop the sync thread and sync every
 * log on the caller's thread.  0 if everything acknowledged is durable;
 * STRATA_EIO without trying after an fsync failed (no retry).
 */
extern int	durable_stop(struct durable *d);

#endif							/* STRATA_DURABLE_H */
