/*-------------------------------------------------------------------------
 *
 * walroutes.h
 *	  The WAL service's routes of the management API (ARCHITECTURE.md 5.7):
 *
 *	GET /v1/tenant/{t}/timeline/{tl}/wal            the receiver and the
 *	    stored range: state, error, start/end/flush LSN, the compute's
 *	    WAL end, lag, segments, bytes
 *	GET /v1/tenant/{t}/timeline/{tl}/wal/{SEGMENT}[?partial=1]
 *	    one segment, byte for byte as in the compute's pg_wal
 *	    (application/octet-stream); 404 if it is not held whole (with
 *	    partial=1 the newest one is sent up to the synced end, zeros after;
 *	    header X-Strata-Complete says which)
 *
 * Only the timeline stratad streams WAL for (--wal-source) has WAL; others
 * answer 404.  Segment reads (16 MiB from disk) run on a worker thread of
 * their own, never on the API loop; the reply is sent from the API thread.
 *
 * API thread only.  walroutes_stop() at the API's end: waits for reads in
 * flight (their replies go nowhere).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_WALROUTES_H
#define STRATA_WALROUTES_H

#include "server.h"

struct evhttp_request;
struct timeline;

/* sub is what follows the timeline id ("/wal..."). */
extern void api_wal_route(struct evhttp_request *req, struct server *srv, struct timeline *tl,
						  const char *sub);
extern void walroutes_stop(void);

#endif							/* STRATA_WALROUTES_H */
