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
#include "routes.h"
#include "tenant.h"
#include "timeline.h"
#include "strata_err.h"

const double server_sync_bucket_le[SYNC_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1, 10,
};

static struct evhttp *http;

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
status(struct evhttp_request *req, struct server *srv)
{
	struct timeline *tl = srv->reg ? registry_timeline(srv->reg, srv->id.tenant, srv->id.timeline) : NULL;
	char		lsn[LSN_STRLEN];
	char		sysid[32];
	json_t	   *o;
	uint64_t	layer_bytes = 0;
	uint64_t	open_bytes = 0;
	uint32_t	nlayers = 0;

	if (tl)
	{
		struct tl_snapshot *s = tl_snapshot_get(tl);

		nlayers = s->nlayers;
		for (uint32_t i = 0; i < s->nlayers; i++)
			layer_bytes += s->layers[i]->size;
		for (uint32_t i = 0; i < s->nfrozen; i++)
			open_bytes += s->frozen[i]->end;
		tl_snapshot_put(s);
		if (tl->open)
			open_bytes += tl->open->end;
	}
	snprintf(sysid, sizeof(sysid), "%llu", (unsigned long long) srv->id.sysid);
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I}",
				  "version", "strata " STRATA_VERSION,
				  "pid", (int) getpid(),
				  "state", srv->state,
				  "tenant_id", srv->tenant_hex,
				  "timeline_id", srv->timeline_hex,
				  "system_identifier", sysid,
				  "last_record_lsn", lsn_format(tl ? atomic_load(&tl->last_record_lsn) : 0, lsn),
				  "socket", srv->socket_path,
				  "http_addr", srv->http_addr,
				  "uptime_seconds", (json_int_t) (time(NULL) - srv->started),
				  "connections", (json_int_t) srv->m.connections,
				  "relations", (json_int_t) (tl ? tl_nforks(tl) : 0),
				  "layer_files", (json_int_t) nlayers,
				  "layer_bytes", (json_int_t) layer_bytes,
				  "log_bytes", (json_int_t) open_bytes,
				  "import", identity_import_name(srv->id.import),
				  "durability_epoch", (json_int_t) srv->id.epoch,
				  "rw_compute_start", (json_int_t) srv->owner_start);
	http_reply_json(req, 200, o);
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

/* Per-timeline gauges and counters; timeline ids are bounded labels (one per timeline). */
static void
timeline_metrics(struct evbuffer *b, struct registry *reg)
{
	static const char *const names[][3] = {
		{"strata_timeline_last_record_lsn", "gauge", "Newest acknowledged LSN."},
		{"strata_timeline_disk_consistent_lsn", "gauge", "Everything below is in layer files."},
		{"strata_timeline_relation_forks", "gauge", "Relation forks that exist."},
		{"strata_timeline_layer_files", "gauge", "Layer files in the layer map."},
		{"strata_timeline_layer_bytes", "gauge", "Bytes of layer files."},
		{"strata_timeline_open_layer_bytes", "gauge", "Bytes in the open and frozen in-memory layers."},
		{"strata_timeline_flushes_total", "counter", "In-memory layers flushed to L0 layers."},
		{"strata_timeline_compactions_total", "counter", "L0 to L1 compactions."},
		{"strata_timeline_image_layers_created_total", "counter", "Image layers created."},
		{"strata_timeline_gc_runs_total", "counter", "GC runs."},
		{"strata_timeline_gc_layers_removed_total", "counter", "Layers removed by GC."},
		{"strata_timeline_reads_total", "counter", "Key reads."},
		{"strata_timeline_layers_visited_total", "counter", "Layers visited by key reads (read amplification)."},
		{"strata_timeline_gc_compactions_total", "counter", "gc-compaction runs that rewrote history below the GC cutoff."},
	};

	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
	{
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", names[n][0], names[n][2],
							names[n][0], names[n][1]);
		for (uint32_t i = 0; i < reg->ntenants; i++)
			for (uint32_t j = 0; j < reg->tenants[i]->ntl; j++)
			{
				struct timeline *tl = reg->tenants[i]->tls[j];
				struct tl_snapshot *s = tl_snapshot_get(tl);
				uint64_t	v = 0;

				switch (n)
				{
					case 0:
						v = atomic_load(&tl->last_record_lsn);
						break;
					case 1:
						v = tl_disk_consistent_lsn(tl);
						break;
					case 2:
						v = tl_nforks(tl);
						break;
					case 3:
						v = s->nlayers;
						break;
					case 4:
						for (uint32_t k = 0; k < s->nlayers; k++)
							v += s->layers[k]->size;
						break;
					case 5:
						for (uint32_t k = 0; k < s->nfrozen; k++)
							v += s->frozen[k]->end;
						v += tl->open ? tl->open->end : 0;
						break;
					case 6:
						v = atomic_load(&tl->flushes);
						break;
					case 7:
						v = atomic_load(&tl->compactions);
						break;
					case 8:
						v = atomic_load(&tl->images_created);
						break;
					case 9:
						v = atomic_load(&tl->gc_runs);
						break;
					case 10:
						v = atomic_load(&tl->gc_layers_removed);
						break;
					case 11:
						v = atomic_load(&tl->reads);
						break;
					case 12:
						v = atomic_load(&tl->layers_visited);
						break;
					case 13:
						v = atomic_load(&tl->gc_rewrites);
						break;
				}
				tl_snapshot_put(s);
				evbuffer_add_printf(b, "%s{tenant_id=\"%s\",timeline_id=\"%s\"} %llu\n",
									names[n][0], reg->tenants[i]->hex, tl->hex,
									(unsigned long long) v);
			}
	}
}

static void
hist_print(struct evbuffer *b, const char *name, const char *label, const struct hist *h)
{
	const char *sep = label[0] ? "," : "";

	for (int i = 0; i < EXEC_BUCKETS; i++)
		evbuffer_add_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label, sep,
							server_exec_bucket_le[i], (unsigned long long) h->le[i]);
	evbuffer_add_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, sep,
						(unsigned long long) h->count);
	evbuffer_add_printf(b, "%s_sum%s%s%s %.9f\n%s_count%s%s%s %llu\n",
						name, label[0] ? "{" : "", label, label[0] ? "}" : "", h->sum,
						name, label[0] ? "{" : "", label, label[0] ? "}" : "",
						(unsigned long long) h->count);
}

/* Pipelining, batching and the per-request timer state machine. */
static void
page_service_metrics(struct evbuffer *b, const struct server_metrics *m)
{
	static const char *const phases[RQ_NPHASES] = {
		"received", "throttled", "batched", "executing", "flushing", "done"
	};
	char		label[64];

	evbuffer_add_printf(b, "# HELP strata_pageservice_execution_seconds Time requests spent executing "
						"(storage read or write), by operation; throttling and queueing excluded.\n"
						"# TYPE strata_pageservice_execution_seconds histogram\n");
	for (int t = 0; t <= PROTO_TEST; t++)
		if (proto_is_request((uint8_t) t) && m->requests[t] > 0)
		{
			snprintf(label, sizeof(label), "op=\"%s\"", proto_tag_name((uint8_t) t));
			hist_print(b, "strata_pageservice_execution_seconds", label, &m->exec[t]);
		}
	evbuffer_add_printf(b, "# HELP strata_pageservice_flush_seconds Time from a batch's responses "
						"being queued to their last byte reaching the socket.\n"
						"# TYPE strata_pageservice_flush_seconds histogram\n");
	hist_print(b, "strata_pageservice_flush_seconds", "", &m->flush);
	evbuffer_add_printf(b, "# HELP strata_pageservice_batch_size GETPAGEs per executed batch.\n"
						"# TYPE strata_pageservice_batch_size histogram\n");
	for (int k = 0; k < BATCH_BUCKETS; k++)
		evbuffer_add_printf(b, "strata_pageservice_batch_size_bucket{le=\"%d\"} %llu\n", 1 << k,
							(unsigned long long) m->batch_le[k]);
	evbuffer_add_printf(b, "strata_pageservice_batch_size_bucket{le=\"+Inf\"} %llu\n"
						"strata_pageservice_batch_size_sum %llu\n"
						"strata_pageservice_batch_size_count %llu\n",
						(unsigned long long) m->batch_count, (unsigned long long) m->batch_sum,
						(unsigned long long) m->batch_count);
	counter(b, "strata_pageservice_phase_seconds_total",
			"Time requests spent in each phase of their life.");
	for (int p = 0; p < RQ_DONE; p++)
		evbuffer_add_printf(b, "strata_pageservice_phase_seconds_total{phase=\"%s\"} %.9f\n",
							phases[p], m->phase_seconds[p]);
	counter(b, "strata_pageservice_cancelled_requests_total",
			"Requests dropped unanswered because their connection closed.");
	evbuffer_add_printf(b, "strata_pageservice_cancelled_requests_total %llu\n",
						(unsigned long long) m->cancelled);
	counter(b, "strata_pageservice_worker_reads_total",
			"Batches read on a read worker thread (history that may need the disk).");
	evbuffer_add_printf(b, "strata_pageservice_worker_reads_total %llu\n",
						(unsigned long long) m->worker_reads);
}

static void
metrics(struct evhttp_request *req, struct server *srv)
{
	struct evbuffer *b = evbuffer_new();
	struct server_metrics *m = &srv->m;
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
	page_service_metrics(b, m);
	gauge(b, "strata_timeline_durability_epoch", "Bumped when acknowledged writes may have been lost.");
	evbuffer_add_printf(b, "strata_timeline_durability_epoch %u\n", srv->id.epoch);
	if (srv->reg)
	{
		timeline_metrics(b, srv->reg);
		counter(b, "strata_pageservice_throttled_requests_total",
				"GETPAGEs held by their tenant's throttle.");
		for (uint32_t i = 0; i < srv->reg->ntenants; i++)
			evbuffer_add_printf(b, "strata_pageservice_throttled_requests_total{tenant_id=\"%s\"} %llu\n",
								srv->reg->tenants[i]->hex,
								(unsigned long long) atomic_load(&srv->reg->tenants[i]->throttle.throttled));
		counter(b, "strata_pageservice_throttle_wait_seconds_total",
				"Time GETPAGEs were held by the throttle (not in execution time).");
		for (uint32_t i = 0; i < srv->reg->ntenants; i++)
			evbuffer_add_printf(b, "strata_pageservice_throttle_wait_seconds_total{tenant_id=\"%s\"} %.6f\n",
								srv->reg->tenants[i]->hex,
								atomic_load(&srv->reg->tenants[i]->throttle.wait_us) / 1e6);
	}
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

void
http_stop(void)
{
	if (http)
		evhttp_free(http);
	http = NULL;
}
