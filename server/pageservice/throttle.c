/*-------------------------------------------------------------------------
 *
 * throttle.c
 *	  GCRA throttle (see throttle.h).
 *
 *-------------------------------------------------------------------------
 */
#include "throttle.h"

#include "clock.h"

#include <string.h>
#include <time.h>

void
throttle_init(struct throttle *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	t->conf.burst = 1;
}

void
throttle_destroy(struct throttle *t)
{
	pthread_mutex_destroy(&t->mu);
}

void
throttle_configure(struct throttle *t, const struct throttle_conf *c)
{
	pthread_mutex_lock(&t->mu);
	t->conf = *c;
	if (t->conf.burst == 0)
		t->conf.burst = 1;
	t->tat_us = 0;				/* a new configuration starts with a full bucket */
	pthread_mutex_unlock(&t->mu);
}

void
throttle_get_conf(struct throttle *t, struct throttle_conf *c)
{
	pthread_mutex_lock(&t->mu);
	*c = t->conf;
	pthread_mutex_unlock(&t->mu);
}

uint64_t
throttle_now_us(void)
{
	return clock_mono_ns() / 1000;
}

uint64_t
throttle_reserve(struct throttle *t, uint64_t now_us)
{
	uint64_t	interval;
	uint64_t	tolerance;
	uint64_t	tat;
	uint64_t	start;

	pthread_mutex_lock(&t->mu);
	if (t->conf.rate == 0)
	{
		pthread_mutex_unlock(&t->mu);
		return 0;
	}
	interval = 1000000 / t->conf.rate;
	if (interval == 0)
		interval = 1;
	tolerance = (uint64_t) (t->conf.burst - 1) * interval;
	tat = t->tat_us > now_us ? t->tat_us : now_us;
	start = tat > now_us + tolerance ? tat - tolerance : now_us;
	t->tat_us = tat + interval;
	pthread_mutex_unlock(&t->mu);
	if (start > now_us)
	{
		atomic_fetch_add(&t->throttled, 1);
		atomic_fetch_add(&t->wait_us, start - now_us);
	}
	return start - now_us;
}
