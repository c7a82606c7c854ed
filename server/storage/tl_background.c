/*-------------------------------------------------------------------------
 *
 * tl_background.c
 *	  Freezing the open layer and the timeline's background thread
 *	  (timeline.h).  The loop freezes (a new write log takes over once the
 *	  writer is idle) and asks for rounds; the thread flushes frozen layers
 *	  and, every compaction_period_ms or when forced, runs compaction,
 *	  image layers and GC (compact*.c).  Requests from the loop are answered
 *	  on the loop (tl_on_bg_done); the blocking tl_checkpoint/compact/gc
 *	  wait on the caller's thread.
 *
 *-------------------------------------------------------------------------
 */
#include "timeline_internal.h"

#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "slog.h"
#include "strata_err.h"

/* A request for a background round from the loop, answered on the loop. */
struct bg_waiter
{
	uint64_t	req;
	int			compact;
	int			gc;
	tl_done_fn	cb;
	void	   *arg;
	struct bg_waiter *next;
};

/* Hand a waiter to the bg thread: its round is the next one to start. */
static void
enqueue_work(struct timeline *tl, struct bg_waiter *w)
{
	pthread_mutex_lock(&tl->lock);
	w->req = ++tl->bg_req;
	w->next = tl->bg_waiters;
	tl->bg_waiters = w;
	tl->bg_wake = 1;
	tl->bg_force_compact |= w->compact;
	tl->bg_force_gc |= w->gc;
	pthread_cond_broadcast(&tl->cv);
	pthread_mutex_unlock(&tl->lock);
}


int
tl_maybe_freeze(struct timeline *tl, int force)
{
	struct inmem *m = tl->open;
	struct inmem *next;
	struct inmem *spare;
	lsn_t		end;
	uint64_t	bytes;
	int			err;

	if (m == NULL || m->bw == NULL || atomic_load(&tl->state) != TL_ACTIVE)
		return 0;
	if (m->nversions == 0)
		return 0;
	if (!force && m->end < tl->conf.freeze_bytes &&
		(tl->open_since == 0 || (uint64_t) time(NULL) < tl->open_since + tl->conf.freeze_seconds))
		return 0;
	/* only an idle writer: everything appended is acknowledged */
	if (bw_written(m->bw) < m->end || m->visible < m->end)
		return STRATA_EBUSY;

	/*
	 * The new write log is the spare the bg thread made, so nothing here
	 * waits for the disk (no fdatasync or directory fsync on the loop).
	 * Without one yet, the bg thread makes it and wakes the loop again.
	 */
	pthread_mutex_lock(&tl->lock);
	spare = tl->spare;
	tl->spare = NULL;
	if (spare == NULL)
	{
		tl->freeze_wanted = 1;
		tl->spare_err = 0;
		tl->bg_wake = 1;
		pthread_cond_broadcast(&tl->cv);
	}
	pthread_mutex_unlock(&tl->lock);
	if (spare == NULL)
		return STRATA_EWOULDBLOCK;
	end = m->max_lsn + 1;
	bytes = m->end;
	if ((err = inmem_freeze_into(m, end, spare, tl->tenant_id, tl->id, &next)) != 0)
	{
		slog(SLOG_WARNING, "timeline %s: could not start a new write log: %s; not freezing",
			 tl->hex, strata_strerror(err));
		pthread_mutex_lock(&tl->lock);
		tl->bg_wake = 1;		/* for a new spare */
		pthread_cond_broadcast(&tl->cv);
		pthread_mutex_unlock(&tl->lock);
		return err;
	}
	if (tl_modify_snapshot(tl, m, next, NULL, NULL, 0, NULL, 0) != 0)
	{
		/*
		 * Out of memory: m cannot join the snapshot, so its versions
		 * cannot be read here any more: stop serving.  Its log stays on
		 * disk for the next start's replay.
		 */
		slog(SLOG_ERROR, "timeline %s: out of memory freezing the open layer; timeline broken",
			 tl->hex);
		atomic_store(&tl->state, TL_BROKEN);
		pthread_mutex_lock(&tl->lock);
		tl->open = next;
		pthread_mutex_unlock(&tl->lock);
		inmem_unref(m);
		return STRATA_ENOMEM;
	}
	/* m is the snapshot's now: the bg thread may flush and free it at once */
	tl->open_since = 0;
	slog(SLOG_DEBUG, "timeline %s: froze the open layer at %llX (%llu bytes)", tl->hex,
		 (unsigned long long) end, (unsigned long long) bytes);
	pthread_mutex_lock(&tl->lock);
	tl->bg_wake = 1;
	pthread_cond_broadcast(&tl->cv);
	pthread_mutex_unlock(&tl->lock);
	return 0;
}

/*
 * bg thread, with tl->lock held: make the next freeze's spare log if
 * there is none (the lock is dropped meanwhile), and wake the loop if a
 * freeze waits for it.  A failure (a full disk) is retried next round.
 */
static int
make_spare(struct timeline *tl)
{
	struct inmem *spare = NULL;
	int			err;

	if (tl->spare != NULL || tl->bg_stop || atomic_load(&tl->state) != TL_ACTIVE)
		return 0;
	pthread_mutex_unlock(&tl->lock);
	err = inmem_create_spare(tl->dir, tl->tenant_id, tl->id, &spare);
	pthread_mutex_lock(&tl->lock);
	if (err != 0)
	{
		slog(SLOG_WARNING, "timeline %s: could not prepare the next write log: %s; "
			 "trying again", tl->hex, strata_strerror(err));
		tl->spare_err = err;
		pthread_cond_broadcast(&tl->cv);	/* a tl_checkpoint waiting gets it */
		return err;
	}
	tl->spare = spare;
	tl->spare_err = 0;
	pthread_cond_broadcast(&tl->cv);	/* tl_checkpoint may wait for it */
	if (tl->freeze_wanted)
	{
		tl->freeze_wanted = 0;
		if (tl->progress_ev)
			event_active(tl->progress_ev, EV_READ, 0);
	}
	return 0;
}

/*
 * After writer progress (loop thread): freeze if due, forced while
 * checkpoints wait; once their freeze happened, their rounds can run.
 */
void
tl_bg_progress(struct timeline *tl)
{
	tl_maybe_freeze(tl, tl->ckpt_waiters != NULL);
	if (tl->ckpt_waiters && (tl->open == NULL || tl->open->nversions == 0))
	{
		while (tl->ckpt_waiters)
		{
			struct bg_waiter *w = tl->ckpt_waiters;

			tl->ckpt_waiters = w->next;
			enqueue_work(tl, w);
		}
	}
}

void
tl_on_bg_done(evutil_socket_t fd, short what, void *arg)
{
	struct timeline *tl = arg;
	struct bg_waiter *done = NULL;
	struct bg_waiter **pp;
	int			err;

	(void) fd;
	(void) what;
	pthread_mutex_lock(&tl->lock);
	err = tl->bg_err;
	for (pp = &tl->bg_waiters; *pp;)
	{
		struct bg_waiter *w = *pp;

		if (w->req <= tl->bg_done || tl->bg_stop)
		{
			*pp = w->next;
			w->next = done;
			done = w;
		}
		else
			pp = &w->next;
	}
	pthread_mutex_unlock(&tl->lock);
	while (done)
	{
		struct bg_waiter *next = done->next;

		done->cb(tl, done->req <= tl->bg_done ? err : STRATA_ESHUTDOWN, done->arg);
		free(done);
		done = next;
	}
}

int
tl_request_work(struct timeline *tl, int checkpoint, int compact, int gc, tl_done_fn cb, void *arg)
{
	struct bg_waiter *w;

	if (atomic_load(&tl->state) != TL_ACTIVE || tl->base == NULL)
		return STRATA_ESHUTDOWN;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return STRATA_ENOMEM;
	w->cb = cb;
	w->arg = arg;
	w->compact = compact;
	w->gc = gc;
	if (checkpoint && tl->open && tl->open->bw)
	{
		bw_submit(tl->open->bw);
		/* freeze now if the writer is idle, else at its next progress event */
		tl_maybe_freeze(tl, 1);
		if (tl->open->nversions > 0)
		{
			w->next = tl->ckpt_waiters;
			tl->ckpt_waiters = w;
			return 0;
		}
	}
	enqueue_work(tl, w);
	return 0;
}

static void *
bg_main(void *arg)
{
	struct timeline *tl = arg;
	uint64_t	last_compact = 0;

	pthread_mutex_lock(&tl->lock);
	while (!tl->bg_stop)
	{
		struct timespec ts;
		int			force_c,
					force_g,
					have_frozen;
		uint64_t	serving;
		uint64_t	now_ms;
		int			err = 0;

		if (make_spare(tl) != 0 && tl->freeze_wanted && !tl->bg_stop)
		{
			/* a freeze waits for it: try again soon (a full disk) */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			(void) pthread_cond_timedwait(&tl->cv, &tl->lock, &ts);
		}
		if (tl->bg_stop)
			break;
		have_frozen = tl->snap->nfrozen > 0;
		if (!tl->bg_wake && !have_frozen && !tl->bg_force_compact && !tl->bg_force_gc)
		{
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += tl->conf.compaction_period_ms / 1000;
			ts.tv_nsec += (long) (tl->conf.compaction_period_ms % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000)
			{
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			(void) pthread_cond_timedwait(&tl->cv, &tl->lock, &ts);
			if (tl->bg_stop)
				break;
		}
		tl->bg_wake = 0;
		lsntime_note(&tl->lsntime, (int64_t) time(NULL), atomic_load(&tl->last_record_lsn));
		serving = tl->bg_req;
		force_c = tl->bg_force_compact;
		force_g = tl->bg_force_gc;
		tl->bg_force_compact = tl->bg_force_gc = 0;
		have_frozen = tl->snap->nfrozen > 0;
		pthread_mutex_unlock(&tl->lock);

		if ((err = atomic_load(&tl->bg_halted)) != 0)
			have_frozen = 0;	/* every request gets the error */
		while (have_frozen && err == 0)
		{
			struct tl_snapshot *s;

			err = compact_flush_frozen(tl);
			s = tl_snapshot_get(tl);
			have_frozen = s->nfrozen > 0 && atomic_load(&tl->state) == TL_ACTIVE;
			tl_snapshot_put(s);
		}
		{
			struct timespec mono;

			clock_gettime(CLOCK_MONOTONIC, &mono);
			now_ms = (uint64_t) mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
		}
		if (err == 0 && atomic_load(&tl->state) == TL_ACTIVE &&
			(force_c || force_g || now_ms >= last_compact + tl->conf.compaction_period_ms))
		{
			last_compact = now_ms;
			err = compact_l0(tl, force_c);
			if (err == 0)
				err = compact_images(tl, force_c);
			/* until every child registered its branch point, GC could drop what it needs */
			if (err == 0 && !atomic_load(&tl->gc_hold))
				err = compact_gc(tl);
			if (err == 0 && tl->conf.gc_compaction && !atomic_load(&tl->gc_hold))
				err = compact_gc_rewrite(tl);
			(void) force_g;
		}
		pthread_mutex_lock(&tl->lock);
		tl->bg_err = err == STRATA_ECANCELLED ? 0 : err;
		tl->bg_done = serving;
		pthread_cond_broadcast(&tl->cv);
		if (tl->bg_waiters && tl->bg_ev)
			event_active(tl->bg_ev, EV_READ, 0);
		if (err != 0 && err != STRATA_ECANCELLED && !tl->bg_stop)
		{
			/* back off before trying again (e.g. a full disk) */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			(void) pthread_cond_timedwait(&tl->cv, &tl->lock, &ts);
		}
	}
	pthread_mutex_unlock(&tl->lock);
	return NULL;
}

/* Ask the bg thread for a round and wait for it; returns its error. */
static int
bg_round(struct timeline *tl, int compact, int gc)
{
	uint64_t	mine;
	int			err;

	pthread_mutex_lock(&tl->lock);
	if (!tl->bg_running || tl->bg_stop)
	{
		pthread_mutex_unlock(&tl->lock);
		return STRATA_ESHUTDOWN;
	}
	mine = ++tl->bg_req;
	tl->bg_wake = 1;
	tl->bg_force_compact |= compact;
	tl->bg_force_gc |= gc;
	pthread_cond_broadcast(&tl->cv);
	while (tl->bg_done < mine && !tl->bg_stop)
		pthread_cond_wait(&tl->cv, &tl->lock);
	err = tl->bg_done < mine ? STRATA_ESHUTDOWN : tl->bg_err;
	pthread_mutex_unlock(&tl->lock);
	return err;
}

int
tl_checkpoint(struct timeline *tl)
{
	int			err;

	if (atomic_load(&tl->state) != TL_ACTIVE)
		return STRATA_ESHUTDOWN;
	if (tl->open && tl->open->bw)
	{
		bw_submit(tl->open->bw);
		tl_wait_writer(tl, tl->open->end);
		tl_publish_written(tl);
		if (tl->progress_cb)
			tl->progress_cb(tl, tl->progress_arg);
	}
	/* the open layer must be frozen for the round to flush it */
	while ((err = tl_maybe_freeze(tl, 1)) == STRATA_EWOULDBLOCK)
	{
		pthread_mutex_lock(&tl->lock);
		while (tl->spare == NULL && tl->spare_err == 0 && !tl->bg_stop && tl->bg_running &&
			   atomic_load(&tl->state) == TL_ACTIVE)
			pthread_cond_wait(&tl->cv, &tl->lock);
		err = tl->spare != NULL ? 0 : tl->spare_err != 0 ? tl->spare_err : STRATA_ESHUTDOWN;
		pthread_mutex_unlock(&tl->lock);
		if (err != 0)
			return err;
	}
	if (err != 0)
		return err;
	if ((err = bg_round(tl, 0, 0)) != 0)
		return err;
	return 0;
}

int
tl_compact(struct timeline *tl)
{
	if (atomic_load(&tl->state) != TL_ACTIVE)
		return STRATA_ESHUTDOWN;
	return bg_round(tl, 1, 0);
}

int
tl_gc(struct timeline *tl)
{
	if (atomic_load(&tl->state) != TL_ACTIVE)
		return STRATA_ESHUTDOWN;
	return bg_round(tl, 0, 1);
}

/* Start the background thread (at the end of loading). */
int
tl_bg_start(struct timeline *tl)
{
	if (pthread_create(&tl->bg, NULL, bg_main, tl) != 0)
		return STRATA_ENOMEM;
	tl->bg_running = 1;
	return 0;
}

void
tl_bg_stop_begin(struct timeline *tl)
{
	pthread_mutex_lock(&tl->lock);
	tl->bg_stop = 1;
	pthread_cond_broadcast(&tl->cv);
	pthread_mutex_unlock(&tl->lock);
	while (tl->ckpt_waiters)
	{
		struct bg_waiter *w = tl->ckpt_waiters;

		tl->ckpt_waiters = w->next;
		w->cb(tl, STRATA_ESHUTDOWN, w->arg);
		free(w);
	}
	if (tl->bg_ev)
		tl_on_bg_done(-1, 0, tl);	/* the remaining waiters get ESHUTDOWN */
}

void
tl_bg_stop_finish(struct timeline *tl)
{
	if (tl->bg_running)
	{
		pthread_join(tl->bg, NULL);
		tl->bg_running = 0;
	}
	if (tl->spare)
	{
		inmem_free(tl->spare, 1);
		tl->spare = NULL;
	}
}
