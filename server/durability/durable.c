/*-------------------------------------------------------------------------
 *
 * durable.c
 *	  Group-write acknowledgements, SYNC waiters and the sync timer of one
 *	  page-service loop (see durable.h).
 *
 * A write waiter lives on write_waiters from durable_wait_write() until
 * its ticket's status is known (durable_tl_progress) and is answered
 * then; a SYNC waiter lives on sync_waiters until a round numbered at
 * least its target finished (on_sync_done).  The page service answers
 * the client from the callback; this module only decides when.
 *
 *-------------------------------------------------------------------------
 */
#include "durable.h"

#include <stddef.h>
#include <stdlib.h>

#include <event2/event.h>

#include "identity.h"
#include "server.h"
#include "slog.h"
#include "strata_err.h"
#include "syncer.h"
#include "tenant.h"
#include "timeline.h"

/* A request waiting for the group write or the sync thread. */
struct durable_wait
{
	durable_done_fn done;
	void	   *arg;			/* NULL once forgotten or dropped */
	struct timeline *tl;		/* writes: borrowed; cleared when it stops */
	uint64_t	ticket;			/* writes: tl_ticket_status() */
	uint64_t	target;			/* SYNC: the sync round that covers it */
	int			submitted;		/* writes: handed to the writer */
	int			err;			/* writes: the failure to answer */
	struct durable_wait *next;
};

/* Call back the answered waiters (unless forgotten) and free them. */
static void
finish_waiters(struct durable *d, struct durable_wait *done, struct timeline *tl)
{
	while (done)
	{
		struct durable_wait *next = done->next;

		if (done->arg)
		{
			if (tl && done->err == 0)
				d->acks_since_sync++;
			done->done(done->arg, tl, done->err);
		}
		free(done);
		done = next;
	}
}

/* Answer the writes of tl whose group reached the kernel (or failed). */
void
durable_tl_progress(struct timeline *tl, void *arg)
{
	struct durable *d = arg;
	struct durable_wait **pp = &d->write_waiters;
	struct durable_wait *done = NULL;
	struct durable_wait **dtail = &done;

	while (*pp)
	{
		struct durable_wait *w = *pp;
		int			st = w->tl == tl ? tl_ticket_status(tl, w->ticket) : 0;

		if (w->tl != tl || st == 0)
		{
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = NULL;
		w->err = st < 0 ? st : 0;
		*dtail = w;
		dtail = &w->next;
	}
	d->write_tail = &d->write_waiters;
	while (*d->write_tail)
		d->write_tail = &(*d->write_tail)->next;
	finish_waiters(d, done, tl);
}

/* End of a loop iteration: hand every timeline's group to its writer. */
void
durable_flush(struct durable *d)
{
	d->srv->m.group_writes++;
	for (struct durable_wait *w = d->write_waiters; w; w = w->next)
		if (w->tl && !w->submitted)
		{
			tl_submit(w->tl);
			for (struct durable_wait *x = w; x; x = x->next)
				if (x->tl == w->tl)
					x->submitted = 1;
		}
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	durable_flush(arg);
}

static void
start_sync(struct durable *d)
{
	if (!d->sync_running)
	{
		d->sync_running = 1;
		syncer_request(d->srv->syncer);
	}
}

/*
 * Never retry a failed fsync: the kernel may have dropped the dirty
 * pages.  Record it (the next start bumps the durability epoch, so
 * computes recover from WAL), let the waiters be answered, and exit for
 * the supervisor to restart us once their answers are out.
 *
 * The record goes to the disk that just failed.  Exiting without it would
 * let the next start serve as if nothing was lost, so until it is saved
 * we stay up, refusing new connections (and failing every SYNC: the
 * timelines' sync error is sticky), and try again every second.
 */
static void save_fsync_failure(evutil_socket_t fd, short what, void *arg);

/* On a read worker: the identity file is written and synced there, never on the loop. */
static void
save_run(struct work *w)
{
	struct durable *d = (struct durable *) ((char *) w - offsetof(struct durable, save_work));

	d->save_err = identity_save(d->srv->datadir, &d->srv->id);
}

static void
save_done(struct work *w)
{
	struct durable *d = (struct durable *) ((char *) w - offsetof(struct durable, save_work));
	struct timeval grace = {0, 200000};
	struct timeval retry = {1, 0};

	d->saving = 0;
	if (d->save_err == 0)
	{
		event_base_loopexit(d->srv->base, &grace);
		return;
	}
	if (d->fail_saves++ == 0)
		slog(SLOG_ERROR, "durability: could not record the failed fsync in the identity file; "
			 "refusing service until it is recorded, so that the next start bumps the "
			 "durability epoch");
	if (d->fail_retry == NULL)
		d->fail_retry = evtimer_new(d->base, save_fsync_failure, d);
	if (d->fail_retry == NULL || evtimer_add(d->fail_retry, &retry) != 0)
		slog(SLOG_ERROR, "durability: out of memory scheduling the retry; stratad keeps "
			 "refusing service");
}

static void
save_fsync_failure(evutil_socket_t fd, short what, void *arg)
{
	struct durable *d = arg;

	(void) fd;
	(void) what;
	if (d->saving)
		return;
	d->save_work.run = save_run;
	d->save_work.done = save_done;
	if (d->srv->workers == NULL)
	{
		/* not serving yet: nothing waits on this thread */
		save_run(&d->save_work);
		save_done(&d->save_work);
		return;
	}
	d->saving = 1;
	workers_submit(d->srv->workers, &d->save_work);
}

static void
fsync_failed(struct durable *d)
{
	struct server *srv = d->srv;

	srv->id.flags |= IDENTITY_FSYNC_FAILED;
	srv->exit_code = 1;
	/* new connections must reach our successor, not us */
	d->on_fail(d->fail_arg);
	save_fsync_failure(-1, 0, d);
}

static void
on_sync_done(uint64_t synced, int err, double seconds, void *arg)
{
	struct durable *d = arg;
	struct server *srv = d->srv;
	struct durable_wait **pp = &d->sync_waiters;
	struct durable_wait *done = NULL;
	int			more = 0;

	d->sync_running = 0;
	srv->m.syncs++;
	if (err != 0 && srv->exit_code == 0)
		fsync_failed(d);
	srv->m.sync_seconds_sum += seconds;
	for (int i = 0; i < SYNC_BUCKETS; i++)
		if (seconds <= server_sync_bucket_le[i])
			srv->m.sync_buckets[i]++;
	if (err == 0)
		d->synced_round = synced;
	while (*pp)
	{
		struct durable_wait *w = *pp;

		if (err != 0 || w->target <= d->synced_round)
		{
			*pp = w->next;
			w->next = done;
			done = w;
			w->err = err;
		}
		else
		{
			more = 1;
			pp = &w->next;
		}
	}
	finish_waiters(d, done, NULL);
	if (more)
		start_sync(d);
}

static void
on_sync_timer(evutil_socket_t fd, short what, void *arg)
{
	struct durable *d = arg;

	(void) fd;
	(void) what;
	if (d->acks_since_sync > 0)
	{
		d->acks_since_sync = 0;
		start_sync(d);
	}
}

int
durable_wait_write(struct durable *d, struct timeline *tl, uint64_t ticket,
				   durable_done_fn done, void *arg)
{
	struct durable_wait *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return STRATA_ENOMEM;
	w->done = done;
	w->arg = arg;
	w->tl = tl;					/* borrowed: durable_drop_writes clears it */
	w->ticket = ticket;
	*d->write_tail = w;
	d->write_tail = &w->next;
	event_active(d->flush_ev, EV_TIMEOUT, 0);
	return 0;
}

int
durable_wait_sync(struct durable *d, durable_done_fn done, void *arg)
{
	struct durable_wait *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return STRATA_ENOMEM;
	w->done = done;
	w->arg = arg;
	/* a sync round that starts after this covers every acknowledged write */
	w->target = syncer_next_round(d->srv->syncer);
	w->next = d->sync_waiters;
	d->sync_waiters = w;
	start_sync(d);
	return 0;
}

void
durable_forget(struct durable *d, const void *arg)
{
	for (struct durable_wait *w = d->write_waiters; w; w = w->next)
		if (w->arg == arg)
			w->arg = NULL;
	for (struct durable_wait *w = d->sync_waiters; w; w = w->next)
		if (w->arg == arg)
			w->arg = NULL;
}

void
durable_drop_writes(struct durable *d, struct timeline *tl, durable_drop_fn dropped)
{
	for (struct durable_wait *w = d->write_waiters; w; w = w->next)
		if (w->tl == tl)
		{
			w->tl = NULL;
			if (w->arg)
			{
				void	   *arg = w->arg;

				w->arg = NULL;
				dropped(arg);
			}
		}
}

int
durable_start(struct durable *d, struct server *srv, struct event_base *base,
			  durable_fail_fn on_fail, void *fail_arg)
{
	struct timeval tv;

	d->srv = srv;
	d->base = base;
	d->write_tail = &d->write_waiters;
	d->on_fail = on_fail;
	d->fail_arg = fail_arg;
	d->flush_ev = event_new(base, -1, 0, on_flush, d);
	event_priority_set(d->flush_ev, 1);
	d->sync_timer = event_new(base, -1, EV_PERSIST, on_sync_timer, d);
	if (syncer_start(base, (syncer_fn) registry_sync_all, srv->reg, on_sync_done, d,
					 &srv->syncer) != 0)
		return STRATA_ENOMEM;
	tv.tv_sec = srv->sync_interval_ms / 1000;
	tv.tv_usec = (srv->sync_interval_ms % 1000) * 1000;
	event_add(d->sync_timer, &tv);
	return 0;
}

static void
free_waiters(struct durable_wait *w)
{
	while (w)
	{
		struct durable_wait *next = w->next;

		free(w);
		w = next;
	}
}

int
durable_stop(struct durable *d)
{
	struct server *srv = d->srv;
	int			err;

	free_waiters(d->write_waiters);
	d->write_waiters = NULL;
	d->write_tail = &d->write_waiters;
	free_waiters(d->sync_waiters);
	d->sync_waiters = NULL;
	syncer_stop(srv->syncer);
	srv->syncer = NULL;
	err = srv->exit_code ? STRATA_EIO : registry_sync_all(srv->reg);
	if (d->sync_timer)
		event_free(d->sync_timer);
	if (d->flush_ev)
		event_free(d->flush_ev);
	if (d->fail_retry)
		event_free(d->fail_retry);
	d->sync_timer = d->flush_ev = d->fail_retry = NULL;
	return err;
}
