/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The management API (see http.h).
 *
 *-------------------------------------------------------------------------
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "lsn.h"
#include "slog.h"
#include "store.h"
#include "strata_err.h"

const double server_sync_bucket_le[SYNC_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1, 10,
};

static struct evhttp *http;

static void
reply_json(struct evhttp_request *req, int code, json_t *body)
{
	char	   *text = json_dumps(body, JSON_INDENT(2) | JSON_SORT_KEYS);
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add_printf(b, "%s\n", text ? text : "{}");
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
	free(text);
	json_decref(body);
}

static void
reply_error(struct evhttp_request *req, int code, const char *msg)
{
	reply_json(req, code, json_pack("{s:s}", "error", msg));
}

static void
status(struct evhttp_request *req, struct server *srv)
{
	struct store_stats st;
	char		lsn[LSN_STRLEN];
	char		sysid[32];
	json_t	   *o;

	store_get_stats(srv->store, &st);
	snprintf(sysid, sizeof(sysid), "%llu", (unsigned long long) srv->id.sysid);
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I}",
				  "version", "strata " STRATA_VERSION,
				  "pid", (int) getpid(),
				  "state", srv->state,
				  "tenant_id", srv->tenant_hex,
				  "timeline_id", srv->timeline_hex,
				  "system_identifier", sysid,
				  "last_record_lsn", lsn_format(st.last_record_lsn, lsn),
				  "socket", srv->socket_path,
				  "http_addr", srv->http_addr,
				  "uptime_seconds", (json_int_t) (time(NULL) - srv->started),
				  "connections", (json_int_t) srv->m.connections,
				  "relations", (json_int_t) st.forks,
				  "pages", (json_int_t) st.pages,
				  "log_bytes", (json_int_t) st.log_bytes,
				  "import", identity_import_name(srv->id.import),
				  "durability_epoch", (json_int_t) srv->id.epoch,
				  "rw_compute_start", (json_int_t) srv->owner_start);
	reply_json(req, 200, o);
}

static void
counter(struct evbuffer *b, const char *name, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
}

static void
gauge(struct evbuffer *b, const char *name, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void
metrics(struct evhttp_request *req, struct server *srv)
{
	struct evbuffer *b = evbuffer_new();
	struct server_metrics *m = &srv->m;
	struct store_stats st;

	store_get_stats(srv->store, &st);
	counter(b, "strata_pageservice_requests_total", "Pagestream requests by operation.");
	for (int t = 0; t <= PROTO_TEST; t++)
	{
		if (proto_is_request((uint8_t) t))
			evbuffer_add_printf(b, "strata_pageservice_requests_total{op=\"%s\"} %llu\n",
								proto_tag_name((uint8_t) t), (unsigned long long) m->requests[t]);
	}
	counter(b, "strata_pageservice_errors_total", "Pagestream error responses by code.");
	for (int e = 1; e <= PROTO_E_INTERNAL; e++)
		evbuffer_add_printf(b, "strata_pageservice_errors_total{code=\"%s\"} %llu\n",
							proto_errcode_name((uint16_t) e), (unsigned long long) m->errors[e]);
	counter(b, "strata_pageservice_protocol_violations_total", "Connections closed for protocol violations.");
	evbuffer_add_printf(b, "strata_pageservice_protocol_violations_total %llu\n",
						(unsigned long long) m->protocol_violations);
	gauge(b, "strata_pageservice_connections", "Open client connections.");
	evbuffer_add_printf(b, "strata_pageservice_connections %llu\n", (unsigned long long) m->connections);
	counter(b, "strata_pageservice_connections_total", "Client connections accepted.");
	evbuffer_add_printf(b, "strata_pageservice_connections_total %llu\n", (unsigned long long) m->connections_total);
	counter(b, "strata_pageservice_bytes_received_total", "Bytes received from clients.");
	evbuffer_add_printf(b, "strata_pageservice_bytes_received_total %llu\n", (unsigned long long) m->bytes_received);
	counter(b, "strata_pageservice_bytes_sent_total", "Bytes queued to clients.");
	evbuffer_add_printf(b, "strata_pageservice_bytes_sent_total %llu\n", (unsigned long long) m->bytes_sent);
	counter(b, "strata_log_group_writes_total", "Group writes of page images to the log.");
	evbuffer_add_printf(b, "strata_log_group_writes_total %llu\n", (unsigned long long) m->group_writes);
	gauge(b, "strata_log_bytes", "Bytes in the page log.");
	evbuffer_add_printf(b, "strata_log_bytes %llu\n", (unsigned long long) st.log_bytes);
	counter(b, "strata_log_sync_total", "fdatasync calls on the page log.");
	evbuffer_add_printf(b, "strata_log_sync_total %llu\n", (unsigned long long) m->syncs);
	evbuffer_add_printf(b, "# HELP strata_log_sync_seconds Duration of fdatasync of the page log.\n"
						"# TYPE strata_log_sync_seconds histogram\n");
	for (int i = 0; i < SYNC_BUCKETS; i++)
		evbuffer_add_printf(b, "strata_log_sync_seconds_bucket{le=\"%g\"} %llu\n",
							server_sync_bucket_le[i], (unsigned long long) m->sync_buckets[i]);
	evbuffer_add_printf(b, "strata_log_sync_seconds_bucket{le=\"+Inf\"} %llu\n"
						"strata_log_sync_seconds_sum %.6f\nstrata_log_sync_seconds_count %llu\n",
						(unsigned long long) m->syncs, m->sync_seconds_sum, (unsigned long long) m->syncs);
	gauge(b, "strata_timeline_last_record_lsn", "Newest stored LSN of the timeline.");
	evbuffer_add_printf(b, "strata_timeline_last_record_lsn %llu\n", (unsigned long long) st.last_record_lsn);
	gauge(b, "strata_timeline_durability_epoch", "Bumped when acknowledged writes may have been lost.");
	evbuffer_add_printf(b, "strata_timeline_durability_epoch %u\n", srv->id.epoch);
	gauge(b, "strata_timeline_relation_forks", "Relation forks that exist.");
	evbuffer_add_printf(b, "strata_timeline_relation_forks %llu\n", (unsigned long long) st.forks);
	counter(b, "strata_import_pages_total", "Pages imported from the compute's files.");
	evbuffer_add_printf(b, "strata_import_pages_total %llu\n", (unsigned long long) m->import_pages);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
					  "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
dispatch(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path == NULL)
		path = "/";
	if (strcmp(path, "/v1/status") != 0 && strcmp(path, "/metrics") != 0)
	{
		reply_error(req, 404, "not found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
	{
		reply_error(req, 405, "method not allowed");
		return;
	}
	if (strcmp(path, "/metrics") == 0)
		metrics(req, srv);
	else
		status(req, srv);
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
	http = evhttp_new(srv->base);
	if (http == NULL)
		return STRATA_ENOMEM;
	evhttp_set_gencb(http, dispatch, srv);
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

void
http_stop(void)
{
	if (http)
		evhttp_free(http);
	http = NULL;
}
