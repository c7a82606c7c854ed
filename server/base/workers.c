/*-------------------------------------------------------------------------
 *
 * workers.c
 *	  The read worker pool (see workers.h).
 *
 *-------------------------------------------------------------------------
 */
#include "workers.h"

#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "slog.h"
#include "strata_err.h"

struct workers
{
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct work *queue;			/* FIFO of jobs to run */
	struct work **queue_tail;
	struct work *finished;		/* FIFO of jobs whose done() is due */
	struct work **finished_tail;
	int			stopping;
	int			nthreads;
	pthread_t  *threads;
	struct event *done_ev;
	uint64_t	pending;		/* loop thread */
};

static void *
worker_main(void *p)
{
	struct workers *ws = p;

	pthread_mutex_lock(&ws->mu);
	for (;;)
	{
		struct work *w;
		int			wake;

		while (ws->queue == NULL && !ws->stopping)
			pthread_cond_wait(&ws->cv, &ws->mu);
		if (ws->queue == NULL)
			break;
		w = ws->queue;
		ws->queue = w->next;
		if (ws->queue == NULL)
			ws->queue_tail = &ws->queue;
		pthread_mutex_unlock(&ws->mu);

		w->run(w);

		pthread_mutex_lock(&ws->mu);
		w->next = NULL;
		wake = ws->finished == NULL;
		*ws->finished_tail = w;
		ws->finished_tail = &w->next;
		if (wake)
			event_active(ws->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&ws->mu);
	return NULL;
}

static void
run_finished(struct workers *ws)
{
	struct work *w;

	pthread_mutex_lock(&ws->mu);
	w = ws->finished;
	ws->finished = NULL;
	ws->finished_tail = &ws->finished;
	pthread_mutex_unlock(&ws->mu);
	while (w)
	{
		struct work *next = w->next;

		ws->pending--;
		w->done(w);
		w = next;
	}
}

static void
on_done(evutil_socket_t fd, short what, void *p)
{
	(void) fd;
	(void) what;
	run_finished(p);
}

int
workers_start(struct event_base *base, int nthreads, struct workers **out)
{
	struct workers *ws = calloc(1, sizeof(*ws));

	if (ws == NULL)
		return STRATA_ENOMEM;
	ws->queue_tail = &ws->queue;
	ws->finished_tail = &ws->finished;
	pthread_mutex_init(&ws->mu, NULL);
	pthread_cond_init(&ws->cv, NULL);
	ws->threads = calloc((size_t) nthreads, sizeof(pthread_t));
	ws->done_ev = event_new(base, -1, 0, on_done, ws);
	if (ws->threads == NULL || ws->done_ev == NULL)
		goto fail;
	for (; ws->nthreads < nthreads; ws->nthreads++)
		if (pthread_create(&ws->threads[ws->nthreads], NULL, worker_main, ws) != 0)
			goto fail;
	*out = ws;
	return 0;

fail:
	slog(SLOG_ERROR, "workers: could not start %d threads", nthreads);
	workers_stop(ws);
	return STRATA_ENOMEM;
}

void
workers_submit(struct workers *ws, struct work *w)
{
	w->next = NULL;
	ws->pending++;
	pthread_mutex_lock(&ws->mu);
	*ws->queue_tail = w;
	ws->queue_tail = &w->next;
	pthread_cond_signal(&ws->cv);
	pthread_mutex_unlock(&ws->mu);
}

uint64_t
workers_pending(struct workers *ws)
{
	return ws->pending;
}

void
workers_stop(struct workers *ws)
{
	if (ws == NULL)
		return;
	pthread_mutex_lock(&ws->mu);
	ws->stopping = 1;
	pthread_cond_broadcast(&ws->cv);
	pthread_mutex_unlock(&ws->mu);
	for (int i = 0; i < ws->nthreads; i++)
		pthread_join(ws->threads[i], NULL);
	run_finished(ws);
	if (ws->done_ev)
		event_free(ws->done_ev);
	pthread_mutex_destroy(&ws->mu);
	pthread_cond_destroy(&ws->cv);
	free(ws->threads);
	free(ws);
}
