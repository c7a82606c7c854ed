/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  GET /metrics: stratad's counters in the Prometheus text format
 *	  (metrics.h).
 *
 *-------------------------------------------------------------------------
 */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "http.h"
#include "identity.h"
#include "loopview.h"
#include "strata_err.h"
#include "walrecv.h"
#include "tenant.h"
#include "timeline.h"

const double server_sync_bucket_le[SYNC_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1, 10,
};

/* Every timeline of the registry, and room for their views; the caller frees both. */
static int
list_timelines(struct registry *reg, struct timeline ***tls, struct loopview_tl **views,
			   uint32_t *n)
{
	uint32_t	k = 0;

	*n = 0;
	if (reg == NULL)
		return 0;
	for (uint32_t i = 0; i < reg->ntenants; i++)
		k += reg->tenants[i]->ntl;
	*tls = malloc((k ? k : 1) * sizeof(**tls));
	*views = malloc((k ? k : 1) * sizeof(**views));
	if (*tls == NULL || *views == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < reg->ntenants; i++)
		for (uint32_t j = 0; j < reg->tenants[i]->ntl; j++)
			(*tls)[(*n)++] = reg->tenants[i]->tls[j];
	return 0;
}

static const char *
tenant_hex(const struct timeline *tl, char hex[IDENTITY_HEX_LEN])
{
	identity_hex(tl->tenant_id, hex);
	return hex;
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
timeline_metrics(struct evbuffer *b, struct timeline *const *tls, const struct loopview_tl *views,
				 uint32_t ntl)
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
		for (uint32_t i = 0; i < ntl; i++)
		{
			struct timeline *tl = tls[i];
			struct tl_snapshot *s = tl_snapshot_get(tl);
			char		thex[IDENTITY_HEX_LEN];
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
					v = views[i].nforks;
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
					v += views[i].open_bytes;
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
								names[n][0], tenant_hex(tl, thex), tl->hex,
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

/* The WAL service (walrecv.h); its status is read under its own lock. */
static void
wal_metrics(struct evbuffer *b, struct walrecv *wr)
{
	struct walrecv_status st;

	walrecv_status(wr, &st);
	gauge(b, "strata_wal_receiver_streaming", "1 while the WAL receiver streams from the compute.");
	evbuffer_add_printf(b, "strata_wal_receiver_streaming %d\n", st.state == WALRECV_STREAMING);
	counter(b, "strata_wal_received_bytes_total", "WAL bytes received from the compute.");
	evbuffer_add_printf(b, "strata_wal_received_bytes_total %llu\n", (unsigned long long) st.received_bytes);
	counter(b, "strata_wal_syncs_total", "Syncs of the WAL store before a flush position was reported.");
	evbuffer_add_printf(b, "strata_wal_syncs_total %llu\n", (unsigned long long) st.syncs);
	counter(b, "strata_wal_connects_total", "Replication streams started.");
	evbuffer_add_printf(b, "strata_wal_connects_total %llu\n", (unsigned long long) st.connects);
	gauge(b, "strata_wal_lag_bytes", "WAL the compute has and stratad has not synced.");
	evbuffer_add_printf(b, "strata_wal_lag_bytes %llu\n",
						(unsigned long long) (st.server_lsn > st.store.flush_lsn ? st.server_lsn - st.store.flush_lsn : 0));
	gauge(b, "strata_wal_stored_bytes", "Bytes of WAL kept on disk, framing included.");
	evbuffer_add_printf(b, "strata_wal_stored_bytes %llu\n", (unsigned long long) st.store.bytes);
	gauge(b, "strata_wal_lost_bytes", "WAL the compute removed before stratad received it (0: none).");
	evbuffer_add_printf(b, "strata_wal_lost_bytes %llu\n", (unsigned long long) (st.lost_to - st.lost_from));
}

void
metrics_reply(struct evhttp_request *req, struct server *srv)
{
	struct loopview_server *sv = malloc(sizeof(*sv));
	struct timeline **tls = NULL;
	struct loopview_tl *views = NULL;
	uint32_t	ntl = 0;
	struct evbuffer *b;
	struct server_metrics *m;
	int			err = STRATA_ENOMEM;

	if (sv && list_timelines(srv->reg, &tls, &views, &ntl) == 0)
		err = loopview_take(srv, tls, ntl, views, sv);
	if (err != 0)
	{
		free(tls);
		free(views);
		free(sv);
		http_reply_error(req, err == STRATA_ESHUTDOWN ? 503 : 500, strata_strerror(err));
		return;
	}
	m = &sv->m;
	b = evbuffer_new();
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
	counter(b, "strata_pageservice_tls_handshakes_total", "TLS sessions established with clients.");
	evbuffer_add_printf(b, "strata_pageservice_tls_handshakes_total %llu\n",
						(unsigned long long) m->tls_handshakes);
	counter(b, "strata_pageservice_tls_handshake_failures_total",
			"TLS handshakes with clients that failed or timed out.");
	evbuffer_add_printf(b, "strata_pageservice_tls_handshake_failures_total %llu\n",
						(unsigned long long) m->tls_handshake_failures);
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
	evbuffer_add_printf(b, "strata_timeline_durability_epoch %u\n", sv->id.epoch);
	if (srv->reg)
	{
		timeline_metrics(b, tls, views, ntl);
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

	if (srv->walrecv != NULL)
		wal_metrics(b, srv->walrecv);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
					  "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
	free(tls);
	free(views);
	free(sv);
}

