/*-------------------------------------------------------------------------
 *
 * metrics.h
 *	  GET /metrics: the page service's, the write log's and every
 *	  timeline's counters in the Prometheus text format (CONVENTIONS.md 7).
 *
 * The page-service counters are a copy taken on their loop (loopview.h);
 * timeline counters are atomics and snapshots read directly.  API thread
 * only; answers 503 if the page-service loop is gone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_METRICS_H
#define STRATA_METRICS_H

#include "server.h"

struct evhttp_request;

extern void metrics_reply(struct evhttp_request *req, struct server *srv);

#endif							/* STRATA_METRICS_H */
