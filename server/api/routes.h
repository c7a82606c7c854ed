/*-------------------------------------------------------------------------
 *
 * api.h
 *	  The management API's tenant and timeline routes (ARCHITECTURE.md
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
 *
 * Errors are {"error": msg} with 400 (bad input), 404 (unknown), 409
 * (exists), 412 (has branches), 500 (I/O), 503 (shutting down).  Work that
 * takes time (checkpoint, compact, GC) runs on the timeline's background
 * thread; the reply is sent when it finishes and the loop never waits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_API_H
#define STRATA_API_H

#include "server.h"

struct evhttp_request;

/* Handle req if path is one of the routes above; 0 if it is not. */
extern int	api_dispatch(struct evhttp_request *req, struct server *srv, const char *path);

#endif							/* STRATA_API_H */
