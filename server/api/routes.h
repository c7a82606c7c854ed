/*-------------------------------------------------------------------------
 *
 * routes.h
 *	  The management API's status, tenant and timeline routes (ARCHITECTURE.md
 *	  4.3), shaped like Neon's pageserver API, JSON in and out:
 *
 *	GET    /v1/tenant                          list tenants
 *	POST   /v1/tenant                          {"new_tenant_id"?} -> 201
 *	GET    /v1/tenant/{t}                      one tenant
 *	DELETE /v1/tenant/{t}                      shut down and remove
 *	PUT    /v1/tenant/{t}/config               {"getpage_throttle": {"rate_per_sec",
 *	       "burst"} | null}: the tenant's GETPAGE throttle, at run time
 *	GET    /v1/tenant/{t}/timeline             list timelines
 *	POST   /v1/tenant/{t}/timeline             {"new_timeline_id"?,
 *	       "ancestor_timeline_id"?, "ancestor_start_lsn"?} -> 201
 *	GET    /v1/tenant/{t}/timeline/{tl}        one timeline
 *	DELETE /v1/tenant/{t}/timeline/{tl}        412 if it has branches
 *	GET    /v1/tenant/{t}/timeline/{tl}/layer  layer files and in-memory layers
 *	PUT    .../checkpoint                      freeze, flush, then compact
 *	PUT    .../compact, PUT .../do_gc          run that work now
 *	GET    .../wal, GET .../wal/{SEGMENT}       the WAL service (walroutes.h)
 *
 *	GET    /v1/status                          stratad and its default timeline
 *
 * Errors are {"error": msg} with 400 (bad input), 404 (unknown), 409
 * (exists), 412 (has branches), 500 (I/O), 503 (shutting down).  Work that
 * takes time (checkpoint, compact, GC, the checkpoint before a branch)
 * runs on the timeline's background thread; the reply is sent when it
 * finishes and neither loop waits for it.
 *
 * API thread only (http.h).  Directory removal, config saves and timeline
 * creation run here; stopping a timeline and reading loop-owned state run
 * on the page-service loop through srv->calls, the handler waiting.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_ROUTES_H
#define STRATA_ROUTES_H

#include "server.h"

struct evhttp_request;

/* Handle req if path is one of the routes above; 0 if it is not. */
extern int	api_dispatch(struct evhttp_request *req, struct server *srv, const char *path);
/* GET /v1/status. */
extern void api_status(struct evhttp_request *req, struct server *srv);
/* The API stops: answers still to come find their client gone. */
extern void api_cancel_pending(void);

#endif							/* STRATA_ROUTES_H */
