/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The management API's HTTP server (libevent evhttp, jansson) on its
 *	  own event loop and thread (ARCHITECTURE.md 1).
 *
 * GET /v1/status (JSON, routes.h), GET /metrics (Prometheus text,
 * metrics.h) and the tenant and timeline routes of routes.h.  Unknown
 * paths answer 404, other methods 405, both with a JSON error body.
 *
 * Every request is first admitted by apiauth.h: a Host that does not
 * name this server gets 421, no or a wrong bearer token 401 (with
 * WWW-Authenticate), the read-only token asking to change something 403;
 * each refusal is logged once per peer address.  srv->metrics_no_auth
 * opens GET /metrics to anyone (Prometheus scrapers).  Bodies above
 * HTTP_MAX_BODY get 413, headers above HTTP_MAX_HEADERS 400 (evhttp).
 * With srv->http_socket the API also listens on that unix socket
 * (mode 0600; tokens are still required, the Host is not checked).
 * With srv->tls_ctx the TCP listener speaks HTTPS only (client
 * certificates as tls.h configures them); a failed handshake is logged
 * once per peer; the unix socket stays plain HTTP.
 *
 * Why a thread of its own: management requests remove directories, save
 * configs, create branches and wait for background work; none of that may
 * delay a GETPAGE.  Handlers run on the API thread and may block it; what
 * they need of the page-service loop (stopping a timeline, loop-owned
 * counters) they run there through srv->calls and wait for; work finished
 * on that loop comes back through srv->api_calls.  The page-service loop
 * never waits for the API thread, so the two cannot deadlock.
 *
 * Life (main thread): http_start() binds addr ("host:port"; with
 * any_port a taken port falls back to a free one), sets srv->http_addr
 * and creates srv->api_base and srv->api_calls; http_run() starts the
 * thread once srv is set up; http_stop(), after the page-service loop's
 * dispatch returned, ends the thread: handlers in progress finish (their
 * calls on the page-service loop are served meanwhile), connections are
 * closed without waiting for their clients, answers not yet sent are
 * dropped.  http_free() after the registry is closed (background work may
 * still post its answer until then; those run on the posting thread and
 * find their client gone).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_HTTP_H
#define STRATA_HTTP_H

#include "server.h"

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_MAX_HEADERS (16 * 1024)

struct evhttp_request;
typedef struct json_t json_t;

extern int	http_start(struct server *srv, const char *addr, int any_port);
extern int	http_run(struct server *srv);
extern void http_stop(struct server *srv);
extern void http_free(struct server *srv);

/* Send a JSON reply (takes the reference) or {"error": msg}; API thread. */
extern void http_reply_json(struct evhttp_request *req, int code, json_t *body);
extern void http_reply_error(struct evhttp_request *req, int code, const char *msg);

#endif							/* STRATA_HTTP_H */
