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
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "apiauth.h"
#include "loopcall.h"
#include "metrics.h"
#include "pagetrace.h"
#include "routes.h"
#include "walroutes.h"
#include "slog.h"
#include "strata_err.h"
#include "tls.h"

/*
 * One API per process; main thread, except evhttp (the API thread's).
 * The unix socket has an evhttp of its own, so a request's listener is
 * known for certain (it decides the Host check).
 */
struct listener
{
	struct server *srv;
	int			is_unix;
};
static struct evhttp *http;
static struct evhttp *http_unix;	/* --http-socket, or NULL */
static struct listener tcp_listener;
static struct listener unix_listener = {.is_unix = 1};
static pthread_t http_thread;
static int	http_running;
static struct apiauth auth;		/* loaded by http_start() */
static char listen_host[64];	/* --http's host, for the Host check */
static int	listen_port;

void
http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	char	   *text = json_dumps(body, JSON_INDENT(2) | JSON_SORT_KEYS);
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add_printf(b, "%s\n", text ? text : "{}");
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 201 ? "Created" :
					  code == 401 ? "Unauthorized" : code == 403 ? "Forbidden" : "Error", b);
	evbuffer_free(b);
	free(text);
	json_decref(body);
}

void
http_reply_error(struct evhttp_request *req, int code, const char *msg)
{
	http_reply_json(req, code, json_pack("{s:s}", "error", msg));
}

/* A refused request: logged once per peer address (apiauth.h), answered. */
static void
refuse(struct evhttp_request *req, int code, const char *why)
{
	char	   *peer = NULL;
	ev_uint16_t port = 0;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);

	if (conn != NULL)
		evhttp_connection_get_peer(conn, &peer, &port);
	if (apiauth_log_peer(peer ? peer : "(unknown)"))
		slog(SLOG_WARNING, "api: refusing a request from %s (logged once per peer): %s",
			 peer ? peer : "(unknown)", why);
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
						  "Bearer realm=\"stratad\"");
	http_reply_error(req, code, why);
}

/*
 * Who may ask (apiauth.h): 1 if req may go on, else 0 with the refusal
 * sent.  On the unix socket there is no Host check: no browser reaches it.
 */
static int
admit(struct evhttp_request *req, struct server *srv, const char *path, int is_unix)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	int			is_get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	enum api_scope scope;

	if (!is_unix && srv->tls_ctx != NULL &&
		bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(
											evhttp_request_get_connection(req))) == NULL)
	{
		/* new_tls_bev() failed and evhttp made a plain one: TLS is not optional */
		refuse(req, 503, "out of memory for TLS");
		return 0;
	}
	if (!is_unix &&
		!apiauth_host_ok(evhttp_find_header(h, "Host"), listen_host, listen_port))
	{
		refuse(req, 421, "the Host header does not name this server");
		return 0;
	}
	if (srv->metrics_no_auth && is_get && strcmp(path, "/metrics") == 0)
		return 1;
	scope = apiauth_scope(&auth, evhttp_find_header(h, "Authorization"));
	if (scope == API_SCOPE_NONE)
	{
		refuse(req, 401, evhttp_find_header(h, "Authorization") ?
			   "wrong token" : "a bearer token is required (Authorization: Bearer TOKEN)");
		return 0;
	}
	if (!apiauth_allows(scope, is_get, path))
	{
		refuse(req, 403, "the read-only token may not do this");
		return 0;
	}
	return 1;
}

static void
dispatch(struct evhttp_request *req, void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path == NULL)
		path = "/";
	if (!admit(req, srv, path, l->is_unix))
		return;
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

/*
 * A plain HTTP request came to the HTTPS port: say so in plain HTTP, as
 * nginx does, rather than only closing.  A short write to a socket that
 * has sent nothing yet; if it does not fit, the client just sees the
 * close.
 */
static void
plain_http_refusal(int fd)
{
	static const char body[] = "{\"error\": \"this management API speaks HTTPS only\"}\n";
	char		reply[256];
	int			n = snprintf(reply, sizeof(reply), "HTTP/1.1 400 Bad Request\r\n"
							 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
							 "Connection: close\r\n\r\n%s", sizeof(body) - 1, body);

	if (send(fd, reply, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return;					/* the close tells it as much */
}

/*
 * OpenSSL's view of a TLS connection of the API: a failed handshake is
 * logged once per peer address (apiauth.h), as refusals are; evhttp
 * closes the connection without telling anyone.
 */
static void
on_tls_info(const SSL *ssl, int where, int ret)
{
	unsigned long e;
	long		verify;
	char		peer[80];
	char		why[512] = "";

	/* a handshake step returned; an error on the queue means it failed */
	if (!(where & SSL_CB_EXIT) || ret > 0 || (e = ERR_peek_error()) == 0)
		return;
	tls_append_error(why, sizeof(why), e);
	if ((verify = SSL_get_verify_result(ssl)) != X509_V_OK)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), " (client certificate: %s)",
				 X509_verify_cert_error_string(verify));
	tls_peer(ssl, peer, sizeof(peer));
	if (apiauth_log_peer(peer))
		slog(SLOG_WARNING, "api: TLS handshake with %s failed (logged once per peer): %s",
			 peer, why);
	if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST)
		plain_http_refusal(SSL_get_fd(ssl));
}

/*
 * evhttp's bufferevent for each TCP connection: TLS, accepting (evhttp
 * gives it the socket).  NULL if out of memory: evhttp then makes a
 * plain one, whose requests admit() refuses.
 */
static struct bufferevent *
new_tls_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	SSL		   *ssl = SSL_new(srv->tls_ctx);
	struct bufferevent *bev;

	if (ssl == NULL)
	{
		ERR_clear_error();
		return NULL;
	}
	SSL_set_info_callback(ssl, on_tls_info);
	/* on failure libevent frees ssl */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
										 BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* An evhttp on the API's loop for requests arriving at l; NULL if no memory. */
static struct evhttp *
new_evhttp(struct server *srv, struct listener *l)
{
	struct evhttp *h = evhttp_new(srv->api_base);

	if (h == NULL)
		return NULL;
	l->srv = srv;
	evhttp_set_gencb(h, dispatch, l);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
							   EVHTTP_REQ_DELETE);
	/* bodies are small JSON objects: a big one is a mistake or an attack (413) */
	evhttp_set_max_body_size(h, HTTP_MAX_BODY);
	evhttp_set_max_headers_size(h, HTTP_MAX_HEADERS);
	return h;
}

/* Also listen on the unix socket at path (mode 0600); 0 or a strata_err. */
static int
bind_unix(struct server *srv, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int			fd;

	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >= (int) sizeof(sun.sun_path))
	{
		slog(SLOG_ERROR, "http: socket path \"%s\" is too long", path);
		return STRATA_EINVAL;
	}
	if ((http_unix = new_evhttp(srv, &unix_listener)) == NULL)
		return STRATA_ENOMEM;
	(void) unlink(path);		/* a stale socket; our pid file says no one else serves */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0 ||
		chmod(path, 0600) != 0 || listen(fd, 64) != 0 ||
		evutil_make_socket_nonblocking(fd) != 0 ||
		evhttp_accept_socket_with_handle(http_unix, fd) == NULL)
	{
		slog(SLOG_ERROR, "http: could not listen on \"%s\": %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return STRATA_EIO;
	}
	slog(SLOG_INFO, "http: management API also on \"%s\"", path);
	return 0;
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
	if (apiauth_load(&auth, srv->datadir) != 0)
		return STRATA_EINVAL;
	if ((srv->api_base = event_base_new()) == NULL ||
		(srv->api_calls = loopcall_new(srv->api_base)) == NULL ||
		(http = new_evhttp(srv, &tcp_listener)) == NULL)
		return STRATA_ENOMEM;
	/* HTTPS on TCP; the unix socket's evhttp stays plain */
	if (srv->tls_ctx != NULL)
		evhttp_set_bevcb(http, new_tls_bev, srv);
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
	snprintf(listen_host, sizeof(listen_host), "%s", host);
	listen_port = port;
	slog(SLOG_INFO, "http: management API on %s%s", srv->http_addr,
		 srv->tls_ctx ? " (HTTPS)" : "");
	if (srv->http_socket != NULL)
		return bind_unix(srv, srv->http_socket);
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
	walroutes_stop();
	pagetrace_stop_all();
	evhttp_free(http);
	http = NULL;
	if (http_unix)
	{
		evhttp_free(http_unix);
		(void) unlink(srv->http_socket);	/* a leftover would only be replaced */
	}
	http_unix = NULL;
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
	if (http_unix)
	{
		evhttp_free(http_unix);
		(void) unlink(srv->http_socket);	/* a leftover would only be replaced */
	}
	http_unix = NULL;
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
