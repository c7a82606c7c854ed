/*-------------------------------------------------------------------------
 *
 * throttle.h
 *	  Per-tenant GETPAGE throttle: a GCRA leaky bucket (ARCHITECTURE.md
 *	  4.3), off by default, configurable at run time.
 *
 * Each request reserves the next slot when it is read: with rate r per
 * second and burst b, slots are 1/r apart and up to b may be taken ahead
 * of time.  throttle_reserve() returns how long the caller must hold the
 * request; callers act in reservation order, so waiters are served FIFO,
 * and nothing ever polls: the caller sets a timer.  Back-pressure, never
 * errors.  Any thread (one mutex per throttle).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_THROTTLE_H
#define STRATA_THROTTLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct throttle_conf
{
	uint32_t	rate;			/* requests per second; 0 = no throttle */
	uint32_t	burst;			/* requests that may go at once (>= 1) */
};

struct throttle
{
	pthread_mutex_t mu;			/* protects conf and tat */
	struct throttle_conf conf;
	uint64_t	tat_us;			/* theoretical arrival time of the next request */
	_Atomic uint64_t throttled;	/* requests that had to wait */
	_Atomic uint64_t wait_us;	/* their total wait */
};

extern void throttle_init(struct throttle *t);
extern void throttle_destroy(struct throttle *t);
extern void throttle_configure(struct throttle *t, const struct throttle_conf *c);
extern void throttle_get_conf(struct throttle *t, struct throttle_conf *c);

/* Reserve a slot for one request at now_us; the µs to wait (0: go now). */
extern uint64_t throttle_reserve(struct throttle *t, uint64_t now_us);

/* CLOCK_MONOTONIC in µs. */
extern uint64_t throttle_now_us(void);

#endif							/* STRATA_THROTTLE_H */
