/*-------------------------------------------------------------------------
 *
 * routes.c
 *	  Tenant and timeline routes of the management API (routes.h).
 *
 * Runs on the API thread, which makes the registry's changes (tenant.h):
 * tenants and timelines looked up here stay valid until this thread
 * changes the registry.  Loop-owned facts come from loopview.h.
 *
 *-------------------------------------------------------------------------
 */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "http.h"
#include "identity.h"
#include "loopcall.h"
#include "loopview.h"
#include "lsn.h"
#include "pagetrace.h"
#include "slog.h"
#include "strata_err.h"
#include "tenant.h"
#include "throttle.h"
#include "timeline.h"
#include "walroutes.h"

static int
http_code(int err)
{
	switch (err)
	{
		case STRATA_EINVAL:
			return 400;
		case STRATA_ENOTFOUND:
			return 404;
		case STRATA_EEXIST:
			return 409;
		case STRATA_EBUSY:
			return 412;
		case STRATA_ESHUTDOWN:
			return 503;
		case STRATA_ENOSPC:
			return 507;
		default:
			return 500;
	}
}

static void
reply_err(struct evhttp_request *req, int err, const char *what)
{
	char		msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what, strata_strerror(err));
	http_reply_error(req, http_code(err), msg);
}

static json_t *
lsn_str(lsn_t l)
{
	char		b[LSN_STRLEN];

	return json_string(lsn_format(l, b));
}

static json_t *
hex_str(const uint8_t id[16])
{
	char		h[IDENTITY_HEX_LEN];

	identity_hex(id, h);
	return json_string(h);
}

static json_t *
key_str(const uint8_t key[KEY_SIZE])
{
	char		h[KEY_SIZE * 2 + 1];

	for (int i = 0; i < KEY_SIZE; i++)
		snprintf(h + 2 * i, 3, "%02X", key[i]);
	return json_string(h);
}

static json_t *
timeline_json(struct timeline *tl, const struct loopview_tl *v)
{
	struct tl_snapshot *s = tl_snapshot_get(tl);
	uint64_t	phys = 0;
	json_t	   *o;

	for (uint32_t i = 0; i < s->nlayers; i++)
		phys += s->layers[i]->size;
	o = json_object();
	json_object_set_new(o, "tenant_id", hex_str(tl->tenant_id));
	json_object_set_new(o, "timeline_id", json_string(tl->hex));
	json_object_set_new(o, "ancestor_timeline_id", tl->ancestor ? json_string(tl->ancestor->hex) : json_null());
	json_object_set_new(o, "ancestor_lsn", tl->ancestor ? lsn_str(tl->ancestor_lsn) : json_null());
	json_object_set_new(o, "last_record_lsn", lsn_str(atomic_load(&tl->last_record_lsn)));
	json_object_set_new(o, "disk_consistent_lsn", lsn_str(tl_disk_consistent_lsn(tl)));
	json_object_set_new(o, "gc_cutoff_lsn", lsn_str(tl_gc_cutoff(tl)));
	json_object_set_new(o, "state", json_string(tl_state_name(atomic_load(&tl->state))));
	json_object_set_new(o, "generation", json_integer(tl->generation));
	json_object_set_new(o, "layer_files", json_integer(s->nlayers));
	json_object_set_new(o, "frozen_layers", json_integer(s->nfrozen));
	json_object_set_new(o, "current_physical_size", json_integer((json_int_t) phys));
	json_object_set_new(o, "open_layer_bytes", json_integer((json_int_t) v->open_bytes));
	json_object_set_new(o, "relation_forks", json_integer(v->nforks));
	tl_snapshot_put(s);
	return o;
}

/* Answer code with timeline_json() of tl; errors as what. */
static void
reply_timeline(struct evhttp_request *req, struct server *srv, struct timeline *tl, int code,
			   const char *what)
{
	struct loopview_tl v;
	int			err = loopview_take(srv, &tl, 1, &v, NULL);

	if (err != 0)
		reply_err(req, err, what);
	else
		http_reply_json(req, code, timeline_json(tl, &v));
}

static json_t *
tenant_json(struct tenant *t)
{
	struct throttle_conf tc;

	throttle_get_conf(&t->throttle, &tc);
	return json_pack("{s:s, s:s, s:i, s:i, s:{s:i, s:i}, s:I, s:I}", "id", t->hex,
					 "state", t->state == TENANT_ACTIVE ? "Active" : "Stopping",
					 "generation", (int) t->generation, "timelines", (int) t->ntl,
					 "getpage_throttle", "rate_per_sec", (int) tc.rate, "burst", (int) tc.burst,
					 "gc_horizon", (json_int_t) t->conf.gc_horizon,
					 "pitr_interval", (json_int_t) t->conf.pitr_seconds);
}

static json_t *read_body(struct evhttp_request *req);

/* {"rate_per_sec": N, "burst": B} or null (off); 0, or -1 if malformed. */
static int
parse_throttle(json_t *th, struct throttle_conf *tc)
{
	json_t	   *rate = json_object_get(th, "rate_per_sec");
	json_t	   *burst = json_object_get(th, "burst");

	tc->rate = 0;
	tc->burst = 1;
	if (json_is_null(th))
		return 0;
	if (!json_is_object(th) || !json_is_integer(rate) || json_integer_value(rate) < 0 ||
		json_integer_value(rate) > 10000000)
		return -1;
	tc->rate = (uint32_t) json_integer_value(rate);
	if (json_is_integer(burst) && json_integer_value(burst) > 0 &&
		json_integer_value(burst) <= 10000000)
		tc->burst = (uint32_t) json_integer_value(burst);
	return 0;
}

/*
 * A retention setting: absent keeps it (*out unchanged), null returns to
 * stratad's default (-1), else a non-negative integer; pitr_interval may
 * also be a string "N[s|m|h|d]".  0, or -1 if malformed.
 */
static int
parse_retention(json_t *body, const char *name, int64_t max, int64_t *out)
{
	json_t	   *v = json_object_get(body, name);
	int64_t		n;

	if (v == NULL)
		return 0;
	if (json_is_null(v))
		n = -1;
	else if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_string(v) && strcmp(name, "pitr_interval") == 0)
	{
		char	   *end;
		long long	num = strtoll(json_string_value(v), &end, 10);
		int64_t		unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 :
			*end == 'd' ? 86400 : *end == '\0' ? 1 : 0;

		if (end == json_string_value(v) || unit == 0 || (*end && end[1]) || num < 0 ||
			num > max / unit)
			return -1;
		n = (int64_t) num * unit;
	}
	else
		return -1;
	if (n < -1 || n > max)
		return -1;
	*out = n;
	return 0;
}

/*
 * PUT /v1/tenant/{t}/config: any of "getpage_throttle" ({"rate_per_sec":
 * N, "burst": B} or null), "gc_horizon" (bytes or null) and
 * "pitr_interval" (seconds, "N[s|m|h|d]" or null); absent keys stay.
 */
static void
tenant_config(struct evhttp_request *req, struct server *srv, struct tenant *t)
{
	json_t	   *body = read_body(req);
	json_t	   *th = body ? json_object_get(body, "getpage_throttle") : NULL;
	struct throttle_conf tc;
	int64_t		horizon = t->gc_horizon_set;
	int64_t		pitr = t->pitr_set;
	int			err = 0;

	if (body == NULL || !json_is_object(body) || (th && parse_throttle(th, &tc) != 0) ||
		parse_retention(body, "gc_horizon", INT64_MAX, &horizon) != 0 ||
		parse_retention(body, "pitr_interval", TENANT_PITR_MAX, &pitr) != 0)
	{
		json_decref(body);
		http_reply_error(req, 400, "expected {\"getpage_throttle\": {\"rate_per_sec\": N, "
						 "\"burst\": B} or null, \"gc_horizon\": BYTES or null, "
						 "\"pitr_interval\": SECONDS, \"N[s|m|h|d]\" or null}, each optional");
		return;
	}
	json_decref(body);
	if (th)
		err = registry_set_throttle(srv->reg, t, &tc);
	if (err == 0 && (horizon != t->gc_horizon_set || pitr != t->pitr_set))
		err = registry_set_retention(srv->reg, t, horizon, pitr);
	if (err != 0)
		reply_err(req, err, "could not save the tenant's config");
	else
		http_reply_json(req, 200, tenant_json(t));
}

static json_t *
layers_json(struct timeline *tl, const struct loopview_tl *v)
{
	struct tl_snapshot *s = tl_snapshot_get(tl);
	json_t	   *layers = json_array();
	json_t	   *inmem = json_array();

	for (uint32_t i = 0; i < s->nlayers; i++)
	{
		struct tl_layer *l = s->layers[i];
		json_t	   *o = json_object();

		json_object_set_new(o, "layer_file_name", json_string(l->name));
		json_object_set_new(o, "layer_file_size", json_integer((json_int_t) l->size));
		json_object_set_new(o, "kind", json_string(l->d.kind == LAYER_IMAGE ? "image" : "delta"));
		json_object_set_new(o, "key_start", key_str(l->d.key_start));
		json_object_set_new(o, "key_end", key_str(l->d.key_end));
		json_object_set_new(o, "lsn_start", lsn_str(l->d.lsn_start));
		json_object_set_new(o, "lsn_end", lsn_str(l->d.lsn_end));
		json_array_append_new(layers, o);
	}
	for (uint32_t i = 0; i < s->nfrozen; i++)
		json_array_append_new(inmem, json_pack("{s:s, s:o, s:o, s:I}", "state", "frozen",
											   "lsn_start", lsn_str(s->frozen[i]->lsn_start),
											   "lsn_end", lsn_str(s->frozen[i]->lsn_end),
											   "bytes", (json_int_t) s->frozen[i]->end));
	if (v->has_open)
		json_array_append_new(inmem, json_pack("{s:s, s:o, s:I}", "state", "open",
											   "lsn_start", lsn_str(v->open_lsn_start),
											   "bytes", (json_int_t) v->open_bytes));
	tl_snapshot_put(s);
	return json_pack("{s:o, s:o}", "layers", layers, "in_memory_layers", inmem);
}

static json_t *
read_body(struct evhttp_request *req)
{
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t		n = evbuffer_get_length(b);
	json_error_t jerr;

	if (n == 0)
		return json_object();
	if (n > 65536)
		return NULL;
	return json_loadb((const char *) evbuffer_pullup(b, -1), n, 0, &jerr);
}

/* An id from the body, or a random one if absent; -1 if malformed. */
static int
body_id(json_t *body, const char *field, uint8_t id[16])
{
	json_t	   *v = json_object_get(body, field);

	if (v == NULL || json_is_null(v))
		return getrandom(id, 16, 0) == 16 ? 0 : -1;
	return identity_parse_hex(json_string_value(v), id) == 0 ? 0 : -1;
}

/* ---------- work on the page-service loop, answered later ---------- */

/*
 * A request answered once work started on the page-service loop is done:
 * a timeline's background round (checkpoint, compact, GC), or the
 * checkpoint of a new branch's ancestor.  From the moment the work is
 * queued it owns the pending_reply, until answer() ran on the API thread
 * and freed it; the HTTP side only borrows it and lets go (req = NULL)
 * when the client leaves or the API stops.  Ids, not pointers, lead back
 * to the timeline, which may be gone by then; no reference is held while
 * the work waits (I3).
 */
struct pending_reply
{
	struct evhttp_request *req;	/* API thread; NULL once the client went away */
	struct server *srv;
	const char *what;			/* the error message's prefix */
	uint8_t		tenant[16];
	uint8_t		timeline[16];	/* worked on, or the branch to create */
	int			branch;			/* then create timeline[] from ancestor[] */
	uint8_t		ancestor[16];
	lsn_t		ancestor_lsn;
	struct timeline *tl;		/* start_on_loop() only: where the work runs */
	int			checkpoint;
	int			compact;
	int			gc;
	int			err;			/* the work's result, set on the loop */
	struct loopcall_msg msg;	/* the answer's way back */
	struct pending_reply *prev; /* API thread: in pending while req is set */
	struct pending_reply *next;
};

static struct pending_reply *pending;	/* API thread */

/* API thread: no answer will be sent on p->req. */
static void
forget_client(struct pending_reply *p, int from_closecb)
{
	if (p->req == NULL)
		return;
	if (!from_closecb)
		evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
	if (p->prev)
		p->prev->next = p->next;
	else
		pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	p->req = NULL;
}

static void
on_conn_close(struct evhttp_connection *conn, void *arg)
{
	(void) conn;
	forget_client(arg, 1);
}

void
api_cancel_pending(void)
{
	while (pending)
		forget_client(pending, 0);
}

static struct pending_reply *
pending_new(struct evhttp_request *req, struct server *srv, struct timeline *tl,
			const char *what)
{
	struct pending_reply *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->req = req;
	p->srv = srv;
	p->what = what;
	p->tl = tl;
	memcpy(p->tenant, tl->tenant_id, 16);
	memcpy(p->timeline, tl->id, 16);
	return p;
}

/* The API thread: create the branch whose ancestor is checkpointed now. */
static void
finish_branch(struct pending_reply *p, struct evhttp_request *req)
{
	struct registry *reg = p->srv->reg;
	struct tenant *t = registry_tenant(reg, p->tenant);
	struct timeline *tl;
	int			err = p->err;

	if (err == 0 && (t == NULL || t->state != TENANT_ACTIVE))
		err = STRATA_ENOTFOUND;
	if (err == 0)
		err = registry_create_timeline(reg, t, p->timeline, p->ancestor, p->ancestor_lsn, &tl);
	if (err != 0)
		reply_err(req, err, p->what);
	else
		reply_timeline(req, p->srv, tl, 201, p->what);
}

/*
 * On the API thread, or on the posting thread once the API stopped (then
 * the client is gone: the work's result is dropped, and a branch whose
 * client left before its ancestor's checkpoint ended is not created).
 */
static void
answer(void *arg)
{
	struct pending_reply *p = arg;
	struct evhttp_request *req = p->req;

	forget_client(p, 0);
	if (req && p->branch)
		finish_branch(p, req);
	else if (req && p->err != 0)
		reply_err(req, p->err, p->what);
	else if (req)
	{
		struct timeline *tl = registry_timeline(p->srv->reg, p->tenant, p->timeline);

		if (tl == NULL)
			reply_err(req, STRATA_ESHUTDOWN, p->what);
		else
			reply_timeline(req, p->srv, tl, 200, p->what);
	}
	free(p);
}

/* The page-service loop: the work is done (or the timeline stopped). */
static void
work_done(struct timeline *tl, int err, void *arg)
{
	struct pending_reply *p = arg;

	(void) tl;
	p->err = err;
	loopcall_post(p->srv->api_calls, &p->msg, answer, p);
}

/* The page-service loop: tl_request_work() belongs to it. */
static int
start_on_loop(void *arg)
{
	struct pending_reply *p = arg;

	return tl_request_work(p->tl, p->checkpoint, p->compact, p->gc, work_done, p);
}

/* Hand p to the work on the loop; the answer comes through answer(). */
static void
start_pending(struct pending_reply *p)
{
	struct evhttp_request *req = p->req;
	int			err = loopcall_run(p->srv->calls, start_on_loop, p);

	if (err != 0)
	{
		reply_err(req, err, p->what);
		free(p);
		return;
	}
	/* answer() runs on this thread, so not before this handler returns */
	p->next = pending;
	if (pending)
		pending->prev = p;
	pending = p;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, p);
}

static void
start_work(struct evhttp_request *req, struct server *srv, struct timeline *tl, const char *what,
		   int checkpoint, int compact, int gc)
{
	struct pending_reply *p = pending_new(req, srv, tl, what);

	if (p == NULL)
	{
		reply_err(req, STRATA_ENOMEM, what);
		return;
	}
	p->checkpoint = checkpoint;
	p->compact = compact;
	p->gc = gc;
	start_pending(p);
}

/*
 * POST a branch: check it, checkpoint the ancestor on the loop (the branch
 * point's history must be in its layers), then create it in answer().
 */
static void
start_branch(struct evhttp_request *req, struct server *srv, struct tenant *t,
			 const uint8_t id[16], const uint8_t ancestor_id[16], lsn_t lsn)
{
	const char *what = "could not create the timeline";
	struct timeline *anc;
	struct pending_reply *p;
	int			err = registry_check_branch(srv->reg, t, id, ancestor_id, &lsn, &anc);

	if (err != 0)
	{
		reply_err(req, err, what);
		return;
	}
	if ((p = pending_new(req, srv, anc, what)) == NULL)
	{
		reply_err(req, STRATA_ENOMEM, what);
		return;
	}
	p->branch = 1;
	memcpy(p->timeline, id, 16);
	memcpy(p->ancestor, ancestor_id, 16);
	p->ancestor_lsn = lsn;
	p->checkpoint = 1;
	start_pending(p);
}

/* ---------- routes ---------- */

static void
tenant_routes(struct evhttp_request *req, struct server *srv, struct tenant *t, const char *rest)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char		tlhex[64];
	uint8_t		tlid[16];
	struct timeline *tl;
	const char *sub;

	if (*rest == '\0')
	{
		if (cmd == EVHTTP_REQ_GET)
			http_reply_json(req, 200, tenant_json(t));
		else if (cmd == EVHTTP_REQ_DELETE)
		{
			int			err = registry_delete_tenant(srv->reg, t->id);

			if (err != 0)
				reply_err(req, err, "could not delete the tenant");
			else
				http_reply_json(req, 200, json_object());
		}
		else
			http_reply_error(req, 405, "method not allowed");
		return;
	}
	if (strcmp(rest, "/config") == 0)
	{
		if (cmd == EVHTTP_REQ_PUT)
			tenant_config(req, srv, t);
		else
			http_reply_error(req, 405, "method not allowed");
		return;
	}
	if (strcmp(rest, "/timeline") == 0)
	{
		if (cmd == EVHTTP_REQ_GET)
		{
			json_t	   *a = json_array();

			struct loopview_tl *v = malloc((t->ntl ? t->ntl : 1) * sizeof(*v));
			int			err = v ? loopview_take(srv, t->tls, t->ntl, v, NULL) : STRATA_ENOMEM;

			if (err != 0)
			{
				free(v);
				json_decref(a);
				reply_err(req, err, "could not list the timelines");
				return;
			}
			for (uint32_t i = 0; i < t->ntl; i++)
				json_array_append_new(a, timeline_json(t->tls[i], &v[i]));
			free(v);
			http_reply_json(req, 200, a);
		}
		else if (cmd == EVHTTP_REQ_POST)
		{
			json_t	   *body = read_body(req);
			json_t	   *anc;
			json_t	   *alsn;
			uint8_t		ancid[16];
			lsn_t		lsn = LSN_INVALID;
			int			err;

			if (body == NULL || body_id(body, "new_timeline_id", tlid) != 0)
			{
				json_decref(body);
				http_reply_error(req, 400, "malformed body or new_timeline_id");
				return;
			}
			anc = json_object_get(body, "ancestor_timeline_id");
			alsn = json_object_get(body, "ancestor_start_lsn");
			if ((anc && !json_is_null(anc) &&
				 identity_parse_hex(json_string_value(anc), ancid) != 0) ||
				(alsn && !json_is_null(alsn) &&
				 (!json_is_string(alsn) || lsn_parse(json_string_value(alsn), &lsn) != 0)))
			{
				json_decref(body);
				http_reply_error(req, 400, "malformed ancestor_timeline_id or ancestor_start_lsn");
				return;
			}
			if (anc && !json_is_null(anc))
			{
				json_decref(body);
				start_branch(req, srv, t, tlid, ancid, lsn);
				return;
			}
			err = registry_create_timeline(srv->reg, t, tlid, NULL, lsn, &tl);
			json_decref(body);
			if (err != 0)
				reply_err(req, err, "could not create the timeline");
			else
				reply_timeline(req, srv, tl, 201, "could not create the timeline");
		}
		else
			http_reply_error(req, 405, "method not allowed");
		return;
	}
	if (strncmp(rest, "/timeline/", 10) != 0)
	{
		http_reply_error(req, 404, "not found");
		return;
	}
	rest += 10;
	sub = strchr(rest, '/');
	snprintf(tlhex, sizeof(tlhex), "%.*s", sub ? (int) (sub - rest) : (int) strlen(rest), rest);
	if (identity_parse_hex(tlhex, tlid) != 0)
	{
		http_reply_error(req, 400, "malformed timeline id");
		return;
	}
	if ((tl = registry_timeline(srv->reg, t->id, tlid)) == NULL)
	{
		http_reply_error(req, 404, "timeline not found");
		return;
	}
	if (sub == NULL)
	{
		if (cmd == EVHTTP_REQ_GET)
			reply_timeline(req, srv, tl, 200, "could not read the timeline");
		else if (cmd == EVHTTP_REQ_DELETE)
		{
			int			err = registry_delete_timeline(srv->reg, t, tlid);

			if (err != 0)
				reply_err(req, err, err == STRATA_EBUSY ? "the timeline has branches" :
						  "could not delete the timeline");
			else
				http_reply_json(req, 200, json_object());
		}
		else
			http_reply_error(req, 405, "method not allowed");
		return;
	}
	if (strcmp(sub, "/layer") == 0 && cmd == EVHTTP_REQ_GET)
	{
		struct loopview_tl v;
		int			err = loopview_take(srv, &tl, 1, &v, NULL);

		if (err != 0)
			reply_err(req, err, "could not list the layers");
		else
			http_reply_json(req, 200, layers_json(tl, &v));
	}
	else if (strcmp(sub, "/checkpoint") == 0 && cmd == EVHTTP_REQ_PUT)
		start_work(req, srv, tl, "checkpoint failed", 1, 1, 0);
	else if (strcmp(sub, "/compact") == 0 && cmd == EVHTTP_REQ_PUT)
		start_work(req, srv, tl, "compaction failed", 0, 1, 0);
	else if (strcmp(sub, "/do_gc") == 0 && cmd == EVHTTP_REQ_PUT)
		start_work(req, srv, tl, "GC failed", 0, 0, 1);
	else if (strcmp(sub, "/wal") == 0 || strncmp(sub, "/wal/", 5) == 0)
		api_wal_route(req, srv, tl, sub);
	else if (strcmp(sub, "/page_trace") == 0 && cmd == EVHTTP_REQ_GET)
		pagetrace_start(tl, req, srv->api_base, srv->calls);
	else
		http_reply_error(req, 404, "not found");
}

int
api_dispatch(struct evhttp_request *req, struct server *srv, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char		thex[64];
	uint8_t		tid[16];
	const char *rest;
	struct tenant *t;

	if (strncmp(path, "/v1/tenant", 10) != 0 || (path[10] != '\0' && path[10] != '/'))
		return 0;
	if (srv->reg == NULL || strcmp(srv->state, "active") != 0)
	{
		http_reply_error(req, 503, "stratad is not serving");
		return 1;
	}
	if (path[10] == '\0' || strcmp(path + 10, "/") == 0)
	{
		if (cmd == EVHTTP_REQ_GET)
		{
			json_t	   *a = json_array();

			for (uint32_t i = 0; i < srv->reg->ntenants; i++)
				json_array_append_new(a, tenant_json(srv->reg->tenants[i]));
			http_reply_json(req, 200, a);
		}
		else if (cmd == EVHTTP_REQ_POST)
		{
			json_t	   *body = read_body(req);
			int			err;

			if (body == NULL || body_id(body, "new_tenant_id", tid) != 0)
				http_reply_error(req, 400, "malformed body or new_tenant_id");
			else if ((err = registry_create_tenant(srv->reg, tid, &t)) != 0)
				reply_err(req, err, "could not create the tenant");
			else
				http_reply_json(req, 201, tenant_json(t));
			json_decref(body);
		}
		else
			http_reply_error(req, 405, "method not allowed");
		return 1;
	}
	rest = path + 11;
	snprintf(thex, sizeof(thex), "%.*s", (int) strcspn(rest, "/"), rest);
	if (identity_parse_hex(thex, tid) != 0)
	{
		http_reply_error(req, 400, "malformed tenant id");
		return 1;
	}
	if ((t = registry_tenant(srv->reg, tid)) == NULL || t->state != TENANT_ACTIVE)
	{
		http_reply_error(req, 404, "tenant not found");
		return 1;
	}
	tenant_routes(req, srv, t, rest + strlen(thex));
	return 1;
}

void
api_status(struct evhttp_request *req, struct server *srv)
{
	struct timeline *tl = srv->reg ? registry_timeline(srv->reg, srv->id.tenant, srv->id.timeline) : NULL;
	struct loopview_server *sv = malloc(sizeof(*sv));
	struct loopview_tl v = {0};
	char		lsn[LSN_STRLEN];
	char		sysid[32];
	json_t	   *o;
	uint64_t	layer_bytes = 0;
	uint64_t	open_bytes = 0;
	uint32_t	nlayers = 0;
	int			err = sv ? loopview_take(srv, &tl, tl ? 1 : 0, &v, sv) : STRATA_ENOMEM;

	if (err != 0)
	{
		free(sv);
		reply_err(req, err, "could not read the status");
		return;
	}
	if (tl)
	{
		struct tl_snapshot *s = tl_snapshot_get(tl);

		nlayers = s->nlayers;
		for (uint32_t i = 0; i < s->nlayers; i++)
			layer_bytes += s->layers[i]->size;
		for (uint32_t i = 0; i < s->nfrozen; i++)
			open_bytes += s->frozen[i]->end;
		tl_snapshot_put(s);
		open_bytes += v.open_bytes;
	}
	snprintf(sysid, sizeof(sysid), "%llu", (unsigned long long) sv->id.sysid);
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I}",
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
				  "connections", (json_int_t) sv->m.connections,
				  "relations", (json_int_t) (tl ? v.nforks : 0),
				  "layer_files", (json_int_t) nlayers,
				  "layer_bytes", (json_int_t) layer_bytes,
				  "log_bytes", (json_int_t) open_bytes,
				  "import", identity_import_name(sv->id.import),
				  "durability_epoch", (json_int_t) sv->id.epoch,
				  "rw_compute_start", (json_int_t) sv->owner_start,
				  "open_files_limit", (json_int_t) srv->open_files_limit);
	free(sv);
	http_reply_json(req, 200, o);
}
