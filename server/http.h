/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The management API (libevent evhttp, jansson) on the event loop.
 *
 * GET /v1/status (JSON) and GET /metrics (Prometheus text).  Unknown
 * paths answer 404, other methods 405, both with a JSON error body.
 * http_start() binds addr ("host:port"); with any_port, a taken port
 * falls back to a free one.  srv->http_addr gets the bound address.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_HTTP_H
#define STRATA_HTTP_H

#include "server.h"

extern int	http_start(struct server *srv, const char *addr, int any_port);
extern void http_stop(void);

#endif							/* STRATA_HTTP_H */
