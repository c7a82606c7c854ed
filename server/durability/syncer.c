/*-------------------------------------------------------------------------
 *
 * syncer.c
 *	  The sync thread (see syncer.h).
 *
 *-------------------------------------------------------------------------
 */
#include "syncer.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "strata_err.h"
#include "clock.h"

struct syncer
{
	syncer_fn	fn;
	void	   *fn_arg;
	struct event *done_ev;
	syncer_done_cb cb;
	void	   *arg;
	pthread_t	thread;
	pthread_mutex_t mu;			/* protects the fields below */
	pthread_cond_t cv;
	int			requested;
	int			stopping;
	uint64_t	started;		/* rounds started */
	uint64_t	synced;
	int			err;
	double		seconds;
};

static void *
syncer_main(void *p)
{
	struct syncer *sy = p;

	pthread_mutex_lock(&sy->mu);
	for (;;)
	{
		uint64_t	round;
		double		t0;
		int			err;

		while (!sy->requested && !sy->stopping)
			pthread_cond_wait(&sy->cv, &sy->mu);
		if (sy->stopping)
			break;
		sy->requested = 0;
		round = ++sy->started;
		pthread_mutex_unlock(&sy->mu);

		t0 = clock_mono_s();
		err = sy->fn(sy->fn_arg);

		pthread_mutex_lock(&sy->mu);
		if (err == 0 && round > sy->synced)
			sy->synced = round;
		sy->err = err;
		sy->seconds = clock_mono_s() - t0;
		event_active(sy->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&sy->mu);
	return NULL;
}

static void
on_done(evutil_socket_t fd, short what, void *p)
{
	struct syncer *sy = p;
	uint64_t	synced;
	int			err;
	double		seconds;

	(void) fd;
	(void) what;
	pthread_mutex_lock(&sy->mu);
	synced = sy->synced;
	err = sy->err;
	seconds = sy->seconds;
	pthread_mutex_unlock(&sy->mu);
	sy->cb(synced, err, seconds, sy->arg);
}

int
syncer_start(struct event_base *base, syncer_fn fn, void *fn_arg, syncer_done_cb cb,
			 void *arg, struct syncer **out)
{
	struct syncer *sy = calloc(1, sizeof(*sy));

	if (sy == NULL)
		return STRATA_ENOMEM;
	sy->fn = fn;
	sy->fn_arg = fn_arg;
	sy->cb = cb;
	sy->arg = arg;
	sy->done_ev = event_new(base, -1, 0, on_done, sy);
	pthread_mutex_init(&sy->mu, NULL);
	pthread_cond_init(&sy->cv, NULL);
	if (sy->done_ev == NULL || pthread_create(&sy->thread, NULL, syncer_main, sy) != 0)
	{
		if (sy->done_ev)
			event_free(sy->done_ev);
		free(sy);
		return STRATA_ENOMEM;
	}
	*out = sy;
	return 0;
}

uint64_t
syncer_next_round(struct syncer *sy)
{
	uint64_t	n;

	pthread_mutex_lock(&sy->mu);
	n = sy->started + 1;
	pthread_mutex_unlock(&sy->mu);
	return n;
}

void
syncer_request(struct syncer *sy)
{
	pthread_mutex_lock(&sy->mu);
	sy->requested = 1;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
}

void
syncer_stop(struct syncer *sy)
{
	if (sy == NULL)
		return;
	pthread_mutex_lock(&sy->mu);
	sy->stopping = 1;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
	pthread_join(sy->thread, NULL);
	event_free(sy->done_ev);
	pthread_mutex_destroy(&sy->mu);
	pthread_cond_destroy(&sy->cv);
	free(sy);
}
