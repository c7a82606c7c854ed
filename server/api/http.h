/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The management API (libevent evhttp, jansson) on the event loop.
 *
 * GET /v1/status (JSON), GET /metrics (Prometheus text) and the tenant
 * and timeline routes of api.h.  Unknown
 * paths answer 404, other methods 405, both with a JSON error body.
 * http_start() binds addr ("host:port"); with any_port, a taken port
 * falls back to a free one.  srv->http_addr gets the bound address.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_HTTP_H
#define STRATA_HTTP_H

#include "server.h"

struct evhttp_request;
typedef struct json_t json_t;

extern int	http_start(struct server *srv, const char *addr, int any_port);
/* Send a JSON reply (takes the reference) or {"error": msg}. */
extern void http_reply_json(struct evhttp_request *req, int code, json_t *body);
extern void http_reply_error(struct evhttp_request *req, int code, const char *msg);
extern void http_stop(void);

#endif							/* STRATA_HTTP_H */
