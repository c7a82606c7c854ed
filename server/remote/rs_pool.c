/*-------------------------------------------------------------------------
 *
 * rs_pool.c
 *	  The remote I/O pool (see rs_pool.h).
 *
 *-------------------------------------------------------------------------
 */
#include "rs_pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "slog.h"
#include "strata_err.h"

struct rs_pool
{
	pthread_mutex_t mu;			/* protects everything below */
	pthread_cond_t cv;
	struct rs_job *head;		/* FIFO of queued jobs */
	struct rs_job **tail;
	int			nqueued;
	int			queue_max;
	int			stopping;
	int			nthreads;
	pthread_t  *threads;
};

static void *
pool_main(void *arg)
{
	struct rs_pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;)
	{
		struct rs_job *job;

		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->head == NULL)
			break;
		job = p->head;
		p->head = job->next;
		if (p->head == NULL)
			p->tail = &p->head;
		p->nqueued--;
		pthread_mutex_unlock(&p->mu);
		job->run(job);
		job->done(job);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int
rs_pool_start(int nthreads, int queue_max, struct rs_pool **out)
{
	struct rs_pool *p;

	if (nthreads < 1 || queue_max < 1)
		return STRATA_EINVAL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
		(p->threads = calloc((size_t) nthreads, sizeof(pthread_t))) == NULL)
	{
		free(p);
		return STRATA_ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->tail = &p->head;
	p->queue_max = queue_max;
	for (; p->nthreads < nthreads; p->nthreads++)
	{
		if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) != 0)
		{
			slog(SLOG_ERROR, "remote: could not start %d remote I/O threads", nthreads);
			rs_pool_stop(p);
			return STRATA_ENOMEM;
		}
	}
	*out = p;
	return 0;
}

int
rs_pool_submit(struct rs_pool *p, struct rs_job *job)
{
	int			err = 0;

	pthread_mutex_lock(&p->mu);
	if (p->stopping)
		err = STRATA_ESHUTDOWN;
	else if (p->nqueued >= p->queue_max)
		err = STRATA_EBUSY;
	else
	{
		job->next = NULL;
		*p->tail = job;
		p->tail = &job->next;
		p->nqueued++;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return err;
}

int
rs_pool_queued(struct rs_pool *p)
{
	int			n;

	pthread_mutex_lock(&p->mu);
	n = p->nqueued;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void
rs_pool_stop(struct rs_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
}
