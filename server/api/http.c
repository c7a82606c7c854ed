/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The management API's HTTP server and its thread (see http.h).
 *
 *-------------------------------------------------------------------------
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "loopcall.h"
#include "metrics.h"
#include "pagetrace.h"
#include "routes.h"
#include "slog.h"
#include "strata_err.h"

/* One API per process; main thread, except evhttp (the API thread's). */
static struct evhttp *http;
static pthread_t http_thread;
static int	http_running;

void
http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	char	   *text = json_dumps(body, JSON_INDENT(2) | JSON_SORT_KEYS);
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add_printf(b, "%s\n", text ? text : "{}");
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 201 ? "Created" : "Error", b);
	evbuffer_free(b);
	free(text);
	json_decref(body);
}

void
http_reply_error(struct evhttp_request *req, int code, const char *msg)
{
	http_reply_json(req, code, json_pack("{s:s}", "error", msg));
}

static void
dispatch(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path == NULL)
		path = "/";
	if (api_dispatch(req, srv, path))
		return;
	if (strcmp(path, "/v1/status") != 0 && strcmp(path, "/metrics") != 0)
	{
		http_reply_error(req, 404, "not found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
	{
		http_reply_error(req, 405, "method not allowed");
		return;
	}
	if (strcmp(path, "/metrics") == 0)
		metrics_reply(req, srv);
	else
		api_status(req, srv);
}

int
http_start(struct server *srv, const char *addr, int any_port)
{
	char		host[64];
	const char *colon = strrchr(addr, ':');
	int			port;
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t	len = sizeof(sin);

	if (colon == NULL || colon - addr >= (long) sizeof(host))
	{
		slog(SLOG_ERROR, "http: bad address \"%s\" (expected host:port)", addr);
		return STRATA_EINVAL;
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	port = atoi(colon + 1);
	if ((srv->api_base = event_base_new()) == NULL ||
		(srv->api_calls = loopcall_new(srv->api_base)) == NULL ||
		(http = evhttp_new(srv->api_base)) == NULL)
		return STRATA_ENOMEM;
	evhttp_set_gencb(http, dispatch, srv);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
							   EVHTTP_REQ_DELETE);
	bs = evhttp_bind_socket_with_handle(http, host, (uint16_t) port);
	if (bs == NULL && any_port)
	{
		slog(SLOG_INFO, "http: %s is taken; using a free port", addr);
		bs = evhttp_bind_socket_with_handle(http, host, 0);
	}
	if (bs == NULL)
	{
		slog(SLOG_ERROR, "http: could not listen on %s: %s", addr, strerror(errno));
		return STRATA_EIO;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *) &sin, &len) == 0)
		port = ntohs(sin.sin_port);
	snprintf(srv->http_addr, sizeof(srv->http_addr), "%s:%d", host, port);
	slog(SLOG_INFO, "http: management API on %s", srv->http_addr);
	return 0;
}

/*
 * The API thread.  After its loop ends, everything it owns goes here, on
 * its own thread: waiting answers are dropped, traces end, connections
 * close; then answers still to come run on whoever posts them.
 */
static void *
http_main(void *arg)
{
	struct server *srv = arg;

	(void) event_base_loop(srv->api_base, EVLOOP_NO_EXIT_ON_EMPTY);
	api_cancel_pending();
	pagetrace_stop_all();
	evhttp_free(http);
	http = NULL;
	loopcall_close(srv->api_calls);
	/* the main thread served our calls on the page-service loop until now */
	loopcall_serve_end(srv->calls);
	return NULL;
}

int
http_run(struct server *srv)
{
	if (pthread_create(&http_thread, NULL, http_main, srv) != 0)
	{
		slog(SLOG_ERROR, "http: could not start the API thread: %m");
		return STRATA_ENOMEM;
	}
	http_running = 1;
	return 0;
}

/* On the API thread: a break asked for before its loop ran would be lost. */
static void
break_loop(void *arg)
{
	struct server *srv = arg;

	event_base_loopbreak(srv->api_base);
}

void
http_stop(struct server *srv)
{
	static struct loopcall_msg stop_msg;

	if (!http_running)
		return;
	loopcall_post(srv->api_calls, &stop_msg, break_loop, srv);
	/* the page-service loop stopped dispatching: run the API's calls here */
	loopcall_serve(srv->calls);
	pthread_join(http_thread, NULL);
	http_running = 0;
}

void
http_free(struct server *srv)
{
	if (http)
		evhttp_free(http);
	http = NULL;
	if (srv->api_calls)
	{
		loopcall_close(srv->api_calls);
		loopcall_free(srv->api_calls);
	}
	if (srv->api_base)
		event_base_free(srv->api_base);
	srv->api_calls = NULL;
	srv->api_base = NULL;
}
