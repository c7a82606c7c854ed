/*-------------------------------------------------------------------------
 *
 * loopcall.c
 *	  Calls run on another event loop's thread (see loopcall.h).
 *
 * One mutex protects the queue, the flags and every queued message's
 * result and done fields; one condition variable wakes both the waiting
 * runners and loopcall_serve().  The event is only a doorbell: whoever
 * takes the queue runs everything in it.
 *
 *-------------------------------------------------------------------------
 */
#include "loopcall.h"

#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "strata_err.h"

struct loopcall
{
	pthread_mutex_t mu;			/* protects everything below */
	pthread_cond_t cv;			/* a run finished; a call was queued; serving ends */
	struct event *ev;
	struct loopcall_msg *head;
	struct loopcall_msg **tail;
	int			closed;
	int			serve_end;
};

/* Run every queued message; called on the owner's thread with mu held. */
static void
run_queued(struct loopcall *lc)
{
	while (lc->head)
	{
		struct loopcall_msg *m = lc->head;

		lc->head = m->next;
		if (lc->head == NULL)
			lc->tail = &lc->head;
		pthread_mutex_unlock(&lc->mu);
		if (m->run)
		{
			int			r = m->run(m->arg);

			pthread_mutex_lock(&lc->mu);
			/* the runner may return (and its stack message go) once done is set */
			m->result = r;
			m->done = 1;
			pthread_cond_broadcast(&lc->cv);
		}
		else
		{
			m->post(m->arg);	/* may free m */
			pthread_mutex_lock(&lc->mu);
		}
	}
}

static void
on_doorbell(evutil_socket_t fd, short what, void *arg)
{
	struct loopcall *lc = arg;

	(void) fd;
	(void) what;
	pthread_mutex_lock(&lc->mu);
	run_queued(lc);
	pthread_mutex_unlock(&lc->mu);
}

struct loopcall *
loopcall_new(struct event_base *base)
{
	struct loopcall *lc = calloc(1, sizeof(*lc));

	if (lc == NULL)
		return NULL;
	if ((lc->ev = event_new(base, -1, 0, on_doorbell, lc)) == NULL)
	{
		free(lc);
		return NULL;
	}
	/* ahead of client I/O, so a flood of requests cannot delay a stop (I4) */
	(void) event_priority_set(lc->ev, 0);
	pthread_mutex_init(&lc->mu, NULL);
	pthread_cond_init(&lc->cv, NULL);
	lc->tail = &lc->head;
	return lc;
}

void
loopcall_free(struct loopcall *lc)
{
	if (lc == NULL)
		return;
	event_free(lc->ev);
	pthread_cond_destroy(&lc->cv);
	pthread_mutex_destroy(&lc->mu);
	free(lc);
}

/* Queue m and ring; mu held. */
static void
enqueue(struct loopcall *lc, struct loopcall_msg *m)
{
	m->next = NULL;
	*lc->tail = m;
	lc->tail = &m->next;
	pthread_cond_broadcast(&lc->cv);
	event_active(lc->ev, EV_READ, 0);
}

int
loopcall_run(struct loopcall *lc, loopcall_run_fn fn, void *arg)
{
	struct loopcall_msg m = {.run = fn, .arg = arg};
	int			r;

	pthread_mutex_lock(&lc->mu);
	if (lc->closed)
	{
		pthread_mutex_unlock(&lc->mu);
		return STRATA_ESHUTDOWN;
	}
	enqueue(lc, &m);
	while (!m.done)
		pthread_cond_wait(&lc->cv, &lc->mu);
	r = m.result;
	pthread_mutex_unlock(&lc->mu);
	return r;
}

void
loopcall_post(struct loopcall *lc, struct loopcall_msg *msg, loopcall_post_fn fn, void *arg)
{
	msg->run = NULL;
	msg->post = fn;
	msg->arg = arg;
	msg->done = 0;
	pthread_mutex_lock(&lc->mu);
	if (!lc->closed)
	{
		enqueue(lc, msg);
		pthread_mutex_unlock(&lc->mu);
		return;
	}
	pthread_mutex_unlock(&lc->mu);
	fn(arg);
}

void
loopcall_serve(struct loopcall *lc)
{
	pthread_mutex_lock(&lc->mu);
	for (;;)
	{
		run_queued(lc);
		if (lc->serve_end)
			break;
		pthread_cond_wait(&lc->cv, &lc->mu);
	}
	pthread_mutex_unlock(&lc->mu);
}

void
loopcall_serve_end(struct loopcall *lc)
{
	pthread_mutex_lock(&lc->mu);
	lc->serve_end = 1;
	pthread_cond_broadcast(&lc->cv);
	pthread_mutex_unlock(&lc->mu);
}

void
loopcall_close(struct loopcall *lc)
{
	struct loopcall_msg *m;

	pthread_mutex_lock(&lc->mu);
	lc->closed = 1;
	m = lc->head;
	lc->head = NULL;
	lc->tail = &lc->head;
	while (m)
	{
		struct loopcall_msg *next = m->next;

		if (m->run)
		{
			m->result = STRATA_ESHUTDOWN;
			m->done = 1;
		}
		else
		{
			pthread_mutex_unlock(&lc->mu);
			m->post(m->arg);
			pthread_mutex_lock(&lc->mu);
		}
		m = next;
	}
	pthread_cond_broadcast(&lc->cv);
	pthread_mutex_unlock(&lc->mu);
}
