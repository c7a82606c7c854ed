/*-------------------------------------------------------------------------
 *
 * lsntime.h
 *	  Which LSN a timeline had reached at a given wall-clock time: the map
 *	  behind time-based retention (pitr_interval, ARCHITECTURE.md 5.4).
 *
 * Samples (unix seconds, last_record_lsn) are noted as a timeline's LSN
 * advances, at most one per `spacing` seconds.  The map is bounded: when
 * it is full, every other sample is dropped and the spacing doubles.  A
 * lookup answers the LSN of the newest sample at or before a time, i.e. an
 * LSN the timeline had certainly reached by then; losing samples (thinning,
 * a restart before they were persisted) can only make that answer older,
 * so retention errs towards keeping history.
 *
 * Pure data: the caller serialises access (the timeline's lock).  Samples
 * are persisted in the manifest (lsntime_to_json / lsntime_from_json).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_LSNTIME_H
#define STRATA_LSNTIME_H

#include <stdint.h>

#include <jansson.h>

#include "lsn.h"

#define LSNTIME_MAX 1024

struct lsntime_sample
{
	int64_t		t;				/* unix seconds */
	lsn_t		lsn;
};

struct lsntime
{
	uint32_t	n;
	uint32_t	spacing;		/* seconds between kept samples (>= 1) */
	struct lsntime_sample s[LSNTIME_MAX];	/* ascending in t and lsn */
};

extern void lsntime_init(struct lsntime *m);

/* Note that the timeline had reached lsn at time t; older or equal ones are ignored. */
extern void lsntime_note(struct lsntime *m, int64_t t, lsn_t lsn);

/*
 * The LSN of the newest sample taken at or before t, or LSN_INVALID if
 * there is none (every known LSN is younger than t).
 */
extern lsn_t lsntime_lsn_at(const struct lsntime *m, int64_t t);

/* [[t, "X/Y"], ...] for samples with lsn <= max_lsn; NULL on ENOMEM. */
extern json_t *lsntime_to_json(const struct lsntime *m, lsn_t max_lsn);

/*
 * Replace m's samples with a saved array (absent: empty).  Returns 0 or
 * STRATA_ECORRUPT if it is malformed or not ascending.
 */
extern int	lsntime_from_json(struct lsntime *m, const json_t *a);

#endif							/* STRATA_LSNTIME_H */
