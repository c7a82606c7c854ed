/*-------------------------------------------------------------------------
 *
 * walroutes.c
 *	  The WAL service's management routes (walroutes.h).
 *
 *-------------------------------------------------------------------------
 */
#include "walroutes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "http.h"
#include "lsn.h"
#include "slog.h"
#include "strata_err.h"
#include "timeline.h"
#include "walrecv.h"
#include "workers.h"

/* A segment read on the pool; answered on the API thread. */
struct wal_fetch
{
	struct work w;				/* first: the pool's callbacks get &f->w */
	struct evhttp_request *req; /* NULL once the client left */
	struct walrecv *wr;
	char		seg[WALSTORE_SEGNAME_LEN + 1];
	int			partial;
	void	   *buf;			/* malloc'd by walrecv_read_segment() */
	uint32_t	len;
	int			complete;
	int			err;
};

static struct workers *pool;	/* API thread; started on first use */

static json_t *
lsn_json(lsn_t l)
{
	char		b[LSN_STRLEN];

	return json_string(lsn_format(l, b));
}

static int
is_our_timeline(struct server *srv, struct timeline *tl)
{
	return srv->walrecv != NULL && memcmp(tl->tenant_id, srv->id.tenant, 16) == 0 &&
		memcmp(tl->id, srv->id.timeline, 16) == 0;
}

static void
reply_status(struct evhttp_request *req, struct server *srv)
{
	struct walrecv_status st;
	json_t	   *o = json_object();

	walrecv_status(srv->walrecv, &st);
	json_object_set_new(o, "state", json_string(walrecv_state_name(st.state)));
	json_object_set_new(o, "error", st.error[0] ? json_string(st.error) : json_null());
	json_object_set_new(o, "slot", json_string(srv->wal_slot));
	json_object_set_new(o, "pg_timeline", json_integer(st.store.tli));
	json_object_set_new(o, "segment_size", json_integer(st.store.seg_size));
	json_object_set_new(o, "start_lsn", lsn_json(st.store.start_lsn));
	json_object_set_new(o, "end_lsn", lsn_json(st.store.end_lsn));
	json_object_set_new(o, "flush_lsn", lsn_json(st.store.flush_lsn));
	json_object_set_new(o, "compute_lsn", lsn_json(st.server_lsn));
	json_object_set_new(o, "lag_bytes", json_integer(st.server_lsn > st.store.flush_lsn ?
													  (json_int_t) (st.server_lsn - st.store.flush_lsn) : 0));
	if (st.lost_to != 0)
	{
		json_t	   *l = json_object();

		json_object_set_new(l, "from", lsn_json(st.lost_from));
		json_object_set_new(l, "to", lsn_json(st.lost_to));
		json_object_set_new(o, "lost", l);
	}
	else
		json_object_set_new(o, "lost", json_null());
	json_object_set_new(o, "segments", json_integer((json_int_t) st.store.segments));
	json_object_set_new(o, "bytes", json_integer((json_int_t) st.store.bytes));
	json_object_set_new(o, "received_bytes", json_integer((json_int_t) st.received_bytes));
	json_object_set_new(o, "syncs", json_integer((json_int_t) st.syncs));
	json_object_set_new(o, "connects", json_integer((json_int_t) st.connects));
	http_reply_json(req, 200, o);
}

static void
fetch_forget(struct evhttp_connection *conn, void *arg)
{
	struct wal_fetch *f = arg;

	(void) conn;
	f->req = NULL;
}

/* A worker thread. */
static void
fetch_run(struct work *w)
{
	struct wal_fetch *f = (struct wal_fetch *) w;

	f->err = walrecv_read_segment(f->wr, f->seg, f->partial, &f->buf, &f->len, &f->complete);
}

/* The API thread (or walroutes_stop()'s caller: the client is gone then). */
static void
fetch_done(struct work *w)
{
	struct wal_fetch *f = (struct wal_fetch *) w;
	struct evhttp_request *req = f->req;

	if (req != NULL)
	{
		evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
		if (f->err == STRATA_ENOTFOUND)
			http_reply_error(req, 404, "the segment is not held whole");
		else if (f->err == STRATA_EINVAL)
			http_reply_error(req, 400, "malformed segment name");
		else if (f->err != 0)
		{
			char		msg[160];

			snprintf(msg, sizeof(msg), "could not read WAL segment %s: %s", f->seg, strata_strerror(f->err));
			http_reply_error(req, 500, msg);
		}
		else
		{
			struct evbuffer *b = evbuffer_new();
			struct evkeyvalq *h = evhttp_request_get_output_headers(req);

			if (b == NULL || evbuffer_add(b, f->buf, f->len) != 0)
				http_reply_error(req, 500, "out of memory");
			else
			{
				evhttp_add_header(h, "Content-Type", "application/octet-stream");
				evhttp_add_header(h, "X-Strata-Complete", f->complete ? "1" : "0");
				evhttp_send_reply(req, 200, "OK", b);
			}
			if (b != NULL)
				evbuffer_free(b);
		}
	}
	free(f->buf);
	free(f);
}

static void
start_fetch(struct evhttp_request *req, struct server *srv, const char *seg)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q = {0};
	struct wal_fetch *f;

	if (strlen(seg) != WALSTORE_SEGNAME_LEN)
	{
		http_reply_error(req, 400, "malformed segment name");
		return;
	}
	if (pool == NULL && workers_start(srv->api_base, 1, &pool) != 0)
	{
		pool = NULL;
		http_reply_error(req, 500, "could not start the WAL read thread");
		return;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
	{
		http_reply_error(req, 500, "out of memory");
		return;
	}
	if (query != NULL && evhttp_parse_query_str(query, &q) == 0)
	{
		const char *p = evhttp_find_header(&q, "partial");

		f->partial = p != NULL && strcmp(p, "1") == 0;
		evhttp_clear_headers(&q);
	}
	f->w.run = fetch_run;
	f->w.done = fetch_done;
	f->req = req;
	f->wr = srv->walrecv;
	snprintf(f->seg, sizeof(f->seg), "%s", seg);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), fetch_forget, f);
	workers_submit(pool, &f->w);
}

void
api_wal_route(struct evhttp_request *req, struct server *srv, struct timeline *tl, const char *sub)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
	{
		http_reply_error(req, 405, "method not allowed");
		return;
	}
	if (!is_our_timeline(srv, tl))
	{
		http_reply_error(req, 404, "no WAL is streamed for this timeline");
		return;
	}
	if (strcmp(sub, "/wal") == 0)
		reply_status(req, srv);
	else if (strncmp(sub, "/wal/", 5) == 0)
		start_fetch(req, srv, sub + 5);
	else
		http_reply_error(req, 404, "not found");
}

void
walroutes_stop(void)
{
	if (pool != NULL)
		workers_stop(pool);
	pool = NULL;
}
