/*-------------------------------------------------------------------------
 *
 * exec.c
 *	  The page service's batcher and executor (see pagesvc_internal.h).
 *
 * In COPY, two stages per connection (ARCHITECTURE.md, page service):
 *
 *	reader (conn.c, conn_process): parses requests, throttles GETPAGEs,
 *	  and calls exec_add_request(), which folds consecutive GETPAGEs into
 *	  the pending batch (max_batch_size); any other request is a batch of
 *	  its own.  It stops while the pending batch is closed, i.e. while the
 *	  executor has not taken it.
 *	executor (exec_kick .. exec_done): runs one batch: a vectored read
 *	  (tl_pages_begin on the loop, tl_pages_finish on a read worker when
 *	  anything must come from history), then queues the responses in
 *	  request order.  A write waits for its group write's ack, a SYNC for
 *	  the sync thread (both through durable.h).
 *
 * The executor takes a strong timeline reference only around the storage
 * read; while a batch waits (for the handoff, the worker, the client to
 * read) the connection holds a weak handle only (handles.h), so a client
 * that never reads cannot hold up a timeline's shutdown (I3, I4).  With
 * pipelining off, the reader reads nothing while a batch executes or its
 * responses wait to be written (serial read -> execute -> flush).
 *
 * Every request carries a timer state machine (enum rq_phase, rq_enter)
 * whose phases feed srv->m; responses are encoded in the loop's scratch
 * buffer, or straight into the output buffer (reply_ok).
 *
 *-------------------------------------------------------------------------
 */
#include "pagesvc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "clock.h"
#include "durable.h"
#include "fio.h"
#include "fsutil.h"
#include "layerfile.h"
#include "lsn.h"
#include "pagetrace.h"
#include "slog.h"
#include "strata_err.h"
#include "timeline.h"

const double server_exec_bucket_le[EXEC_BUCKETS] = {
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.1, 1, 10,
};

/* ---------- timing ---------- */


static void
hist_add(struct hist *h, double seconds)
{
	for (int i = 0; i < EXEC_BUCKETS; i++)
		if (seconds <= server_exec_bucket_le[i])
			h->le[i]++;
	h->count++;
	h->sum += seconds;
}

/*
 * The timer state machine: a request leaves its phase for a later one,
 * and the time it spent there is accounted to that phase, once.  Skipped
 * phases account nothing; leaving EXECUTING also feeds the execution-time
 * histogram of its operation.
 */
static void
rq_enter(struct server *srv, struct preq *p, enum rq_phase to, uint64_t now)
{
	double		dt;

	if (to <= p->phase)
		return;
	dt = (double) (now - p->since_ns) / 1e9;
	srv->m.phase_seconds[p->phase] += dt;
	if (p->phase == RQ_EXECUTING)
		hist_add(&srv->m.exec[p->req.tag <= PROTO_TEST ? p->req.tag : 0], dt);
	p->phase = to;
	p->since_ns = now;
}

/* Page references the batch's reads still hold (answered ones passed theirs on). */
static void
batch_release(struct batch *b)
{
	for (uint32_t i = 0; i < b->nrd; i++)
		tl_page_release(&b->rd[i]);
	b->nrd = 0;
}

/* Requests dropped unanswered: account what they went through. */
void
exec_batch_cancel(struct server *srv, struct batch *b)
{
	uint64_t	now = clock_mono_ns();

	batch_release(b);
	for (uint32_t i = 0; i < b->n; i++)
		if (b->r[i].phase < RQ_FLUSHING)
		{
			rq_enter(srv, &b->r[i], RQ_DONE, now);
			srv->m.cancelled++;
		}
	if (b->raw)
	{
		srv->m.cancelled++;
		free(b->raw);
		b->raw = NULL;
	}
	b->n = 0;
	b->closed = 0;
}

/*
 * Output drained (conn.c counted it in out_drained): batches whose
 * responses all reached the socket are flushed.
 */
void
exec_drained(struct conn *c)
{
	uint64_t	now;

	if (c->fl_n == 0)
		return;
	now = clock_mono_ns();
	while (c->fl_n > 0 && c->fl[c->fl_head].end <= c->out_drained)
	{
		double		dt = (double) (now - c->fl[c->fl_head].t_ns) / 1e9;

		hist_add(&c->srv->m.flush, dt);
		c->srv->m.phase_seconds[RQ_FLUSHING] += dt * c->fl[c->fl_head].n;
		c->fl_head = (c->fl_head + 1) % FLUSH_RING;
		c->fl_n--;
	}
}

/* A batch's responses are queued: time their flush. */
static void
flush_track(struct conn *c, uint32_t n, uint64_t now)
{
	int			slot;

	if (c->fl_n == FLUSH_RING)
	{
		/* far behind: account the oldest as flushed now */
		hist_add(&c->srv->m.flush, (double) (now - c->fl[c->fl_head].t_ns) / 1e9);
		c->fl_head = (c->fl_head + 1) % FLUSH_RING;
		c->fl_n--;
	}
	slot = (c->fl_head + c->fl_n) % FLUSH_RING;
	c->fl[slot].end = c->out_queued;
	c->fl[slot].t_ns = now;
	c->fl[slot].n = n;
	c->fl_n++;
}

void
exec_batch_free(struct batch *b)
{
	free(b->r);
	free(b->rd);
	free(b->raw);
	b->r = NULL;
	b->rd = NULL;
	b->raw = NULL;
}

/* ---------- pagestream replies ---------- */

static uint16_t
wire_code(int err)
{
	switch (err)
	{
		case STRATA_ENOTFOUND:
			return PROTO_E_NOT_FOUND;
		case STRATA_EEOF:
			return PROTO_E_BEYOND_EOF;
		case STRATA_EEXIST:
			return PROTO_E_EXISTS;
		case STRATA_EINVAL:
			return PROTO_E_BAD_REQUEST;
		case STRATA_ENOSPC:
			return PROTO_E_DISK_FULL;
		case STRATA_EIO:
			return PROTO_E_IO_ERROR;
		case STRATA_ECORRUPT:
			return PROTO_E_CORRUPT;
		case STRATA_EUNSUPPORTED:
			return PROTO_E_UNSUPPORTED;
		case STRATA_EREADONLY:
			return PROTO_E_READ_ONLY;
		default:
			return PROTO_E_INTERNAL;
	}
}

static void
reply_frame(struct conn *c, size_t len)
{
	pgwire_put_msg(c, 'd', c->loop->out, len);
	c->out_queued += len + 5;
}

static void
reply_error(struct conn *c, const struct proto_req *req, int err, const char *detail)
{
	char		msg[512];
	uint16_t	code = wire_code(err);
	size_t		n;

	snprintf(msg, sizeof(msg), "%s: %s (relation %u/%u/%u fork %u)",
			 proto_tag_name(req->tag), detail ? detail : strata_strerror(err),
			 req->rel.spc, req->rel.db, req->rel.rel, req->rel.fork);
	c->srv->m.errors[code]++;
	if (code == PROTO_E_IO_ERROR || code == PROTO_E_CORRUPT || code == PROTO_E_INTERNAL)
		slog(SLOG_ERROR, "pagesvc: %s conn=%llu", msg, (unsigned long long) c->id);
	n = proto_encode_error(req, code, msg, c->loop->out, sizeof(c->loop->out));
	reply_frame(c, n);
}

/* Encoded straight into the output buffer: a page is copied once, here. */
static void
reply_ok(struct conn *c, const struct proto_req *req, const struct proto_resp *resp)
{
	struct pgwire_msg m;
	uint8_t    *buf = pgwire_begin_msg(c, sizeof(c->loop->out), &m);
	size_t		n = buf ? proto_encode_resp(req, resp, buf, sizeof(c->loop->out)) : 0;

	if (n == 0)
	{
		/* space reserved but not committed is simply reused */
		reply_error(c, req, buf ? STRATA_EINTERNAL : STRATA_ENOMEM,
					"could not encode the response");
		return;
	}
	pgwire_end_msg(c, 'd', &m, n);
	c->out_queued += n + 5;
}

static void
reply_lsn(struct conn *c, const struct proto_req *req, lsn_t lsn, struct timeline *tl)
{
	struct proto_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.stored_lsn = lsn;
	resp.count = tl ? tl_last_reset_count(tl) : 0;
	reply_ok(c, req, &resp);
}

/* A page sent by reference has left the output buffer. */
static void
page_sent(const void *data, size_t len, void *arg)
{
	(void) data;
	(void) len;
	inmem_map_unref(arg);
}

/*
 * A GETPAGE answer.  A page from a log's mapping is sent from there (the
 * kernel's copy into the socket is its only one); the reference keeps
 * the mapping, never the timeline, so a client that does not read holds
 * no timeline or layer (I3).
 */
static void
reply_getpage(struct conn *c, const struct proto_req *req, struct tl_page_read *rd, int err)
{
	struct proto_resp resp;
	char		detail[128];

	if (err == 0 && rd->ref)
	{
		uint8_t		head[64];
		size_t		n = proto_encode_getpage_head(req, head, sizeof(head));
		int			r = n ? pgwire_put_msg_ref(c, 'd', head, n, rd->ref, PROTO_PAGE_SIZE,
											   page_sent, rd->map) : -1;

		if (r == 0)
		{
			rd->map = NULL;		/* now the output buffer's */
			rd->ref = NULL;
			c->out_queued += 5 + n + PROTO_PAGE_SIZE;
			return;
		}
		if (r == -2)
		{
			conn_violation(c, "out of memory for the output");
			return;
		}
	}
	if (err == 0)
	{
		memset(&resp, 0, sizeof(resp));
		resp.page = rd->ref ? rd->ref : rd->page;
		reply_ok(c, req, &resp);
		return;
	}
	if (err == STRATA_EINVAL)
	{
		reply_error(c, req, err, "request LSN is 0 or older than not_modified_since");
		return;
	}
	snprintf(detail, sizeof(detail), "block %u: %s", req->blk,
			 err == STRATA_EEOF ? "beyond the end of the relation" :
			 err == STRATA_ENOTFOUND ? "relation fork does not exist" :
			 strata_strerror(err));
	reply_error(c, req, err, detail);
}

/* ---------- the executor ---------- */

/* The executing batch is answered (or dropped): take the next one. */
static void
exec_done(struct conn *c)
{
	struct batch *b = c->exec;
	uint64_t	now = clock_mono_ns();

	for (uint32_t i = 0; i < b->n; i++)
		rq_enter(c->srv, &b->r[i], RQ_FLUSHING, now);
	if (b->n > 0 && c->state != CONN_CLOSING)
		flush_track(c, b->n, now);
	for (uint32_t i = 0; i < b->n; i++)
		b->r[i].phase = RQ_DONE;	/* the flush is accounted per batch */
	b->n = 0;
	b->closed = 0;
	free(b->raw);
	b->raw = NULL;
	c->exec_busy = 0;
	if (c->state == CONN_CLOSING)
		return;
	exec_kick(c);
	if (!c->exec_busy || c->srv->pipelining)
		conn_process(c);
}

/* Queue the responses of a GETPAGE batch, in request order. */
static void
getpage_answer(struct conn *c)
{
	struct batch *b = c->exec;
	struct timeline *tl = c->h ? c->h->tl : NULL;
	struct page_trace *trace = tl ? tl->trace : NULL;
	uint64_t	now = clock_mono_ns();

	for (uint32_t i = 0; i < b->n; i++)
	{
		struct preq *p = &b->r[i];
		int			err = p->rd == UINT32_MAX ? p->err : b->rd[p->rd].err;

		rq_enter(c->srv, p, RQ_FLUSHING, now);
		if (c->state != CONN_CLOSING)
		{
			struct tl_page_read none = {0};

			reply_getpage(c, &p->req, p->rd == UINT32_MAX ? &none : &b->rd[p->rd], err);
			if (trace)
				pagetrace_add(trace, &p->req, err ? wire_code(err) : 0, now - p->recv_ns);
		}
	}
	batch_release(b);
}

static void
read_run(struct work *w)
{
	struct batch *b = (struct batch *) w;

	(void) tl_pages_finish(b->tl, b->snap, b->rd, b->nrd);
}

static void
read_done(struct work *w)
{
	struct batch *b = (struct batch *) w;
	struct conn *c = b->c;

	tl_snapshot_put(b->snap);
	b->snap = NULL;
	tl_unref(b->tl);
	b->tl = NULL;
	c->in_worker = 0;
	if (c->free_pending)
	{
		exec_batch_cancel(c->srv, b);
		c->exec_busy = 0;
		conn_free(c);
		return;
	}
	getpage_answer(c);
	exec_done(c);
}

/* A GETPAGE batch: answer from memory on the loop, or read on a worker. */
static void
exec_getpages(struct conn *c, struct batch *b)
{
	struct timeline *tl = handle_upgrade(c->h);
	uint64_t	now = clock_mono_ns();
	lsn_t		last;

	if (tl == NULL)
	{
		conn_shutting_down(c);
		exec_done(c);
		return;
	}
	last = atomic_load(&tl->last_record_lsn);
	b->nrd = 0;
	for (uint32_t i = 0; i < b->n; i++)
	{
		struct preq *p = &b->r[i];

		rq_enter(c->srv, p, RQ_EXECUTING, now);
		/* phase 1 never waits for an LSN: read at what we have */
		if (p->req.request_lsn == LSN_INVALID || p->req.request_lsn < p->req.nms)
		{
			p->rd = UINT32_MAX;
			p->err = STRATA_EINVAL;
			continue;
		}
		p->rd = b->nrd;
		b->rd[b->nrd++] = (struct tl_page_read) {
			.rel = p->req.rel,
			.blk = p->req.blk,
			.lsn = p->req.request_lsn < last ? p->req.request_lsn : last,
			.page = c->pages[i],
		};
	}
	c->srv->m.batch_count++;
	c->srv->m.batch_sum += b->n;
	for (int k = 0; k < BATCH_BUCKETS; k++)
		if (b->n <= (1u << k))
			c->srv->m.batch_le[k]++;
	if (b->nrd > 0 && tl_pages_begin(tl, b->rd, b->nrd, &b->snap) > 0)
	{
		uint8_t		need[1024];
		uint32_t	blocked = 0;

		/*
		 * History: what the page cache holds is read right here (no-wait
		 * reads); only what would wait for the disk goes to a worker.
		 */
		for (uint32_t i = 0; i < b->nrd; i++)
			need[i] = b->rd[i].need;
		layer_set_nowait(1);
		(void) tl_pages_finish(tl, b->snap, b->rd, b->nrd);
		layer_set_nowait(0);
		for (uint32_t i = 0; i < b->nrd; i++)
			if (b->rd[i].err == STRATA_EWOULDBLOCK)
			{
				b->rd[i].need = need[i];
				b->rd[i].err = 0;
				blocked++;
			}
		if (blocked == 0)
		{
			tl_snapshot_put(b->snap);
			b->snap = NULL;
			tl_unref(tl);
			getpage_answer(c);
			exec_done(c);
			return;
		}
		/* a worker reads the rest, we go on */
		b->tl = tl;
		b->c = c;
		b->work.run = read_run;
		b->work.done = read_done;
		c->in_worker = 1;
		c->srv->m.worker_reads++;
		workers_submit(c->srv->workers, &b->work);
		return;
	}
	tl_unref(tl);
	getpage_answer(c);
	exec_done(c);
}

/* ---------- other requests (one per batch) ---------- */

/*
 * The group write of c's executing request reached the kernel (or
 * failed): answer it, then take the next batch.  The request is the
 * batch's only one; it stays intact while the write waits, since
 * exec_busy keeps conn_close() from cancelling the batch.
 */
static void
write_answered(void *arg, struct timeline *tl, int err)
{
	struct conn *c = arg;
	struct batch *b = c->exec;

	if (err != 0)
		reply_error(c, &b->r[0].req, err, NULL);
	else
	{
		/* tests: the change is acknowledged in the log, the compute never hears */
		if (b->r[0].req.tag == PROTO_CREATE)
			fio_kill_point("create-before-reply");
		reply_lsn(c, &b->r[0].req, b->stored_lsn, tl);
	}
	exec_done(c);
}

static int	handle_change(struct conn *c, struct timeline *tl, const struct proto_req *req);

/*
 * The writer's ring, full when c's change came, has room again (or its
 * write failed): try the change again.
 */
static void
room_answered(void *arg, struct timeline *tl, int err)
{
	struct conn *c = arg;
	const struct proto_req *req = &c->exec->r[0].req;

	if (err != 0)
		reply_error(c, req, err, NULL);
	else if (handle_change(c, tl, req))
		return;
	exec_done(c);
}

/* Returns 1 if the answer comes later (exec_done then), 0 if answered. */
static int
handle_change(struct conn *c, struct timeline *tl, const struct proto_req *req)
{
	lsn_t		lsn = 0;
	uint64_t	ticket = 0;
	int			err = tl_prepare(tl, req, &lsn, &ticket);

	if (err == STRATA_EBUSY)
	{
		/* nothing appended: wait on the loop, never in it, for the ring */
		if (durable_wait_write(&c->loop->dur, tl, ticket, room_answered, c) == 0)
			return 1;
		err = STRATA_ENOMEM;
	}
	if (err != 0)
	{
		reply_error(c, req, err, NULL);
		return 0;
	}
	if (ticket == 0)
	{
		reply_lsn(c, req, lsn, tl);
		return 0;
	}
	/* tl is borrowed by the waiter: on_tl_stop drops it (pagesvc.c) */
	c->exec->stored_lsn = lsn;
	if (durable_wait_write(&c->loop->dur, tl, ticket, write_answered, c) != 0)
	{
		reply_error(c, req, STRATA_ENOMEM, NULL);
		return 0;
	}
	return 1;
}

/* A sync round covering c's SYNC finished: answer it, take the next batch. */
static void
sync_answered(void *arg, struct timeline *tl, int err)
{
	struct conn *c = arg;
	struct proto_resp resp;

	(void) tl;
	if (err != 0)
		reply_error(c, &c->exec->r[0].req, err, "fdatasync of a write log failed");
	else
	{
		memset(&resp, 0, sizeof(resp));
		reply_ok(c, &c->exec->r[0].req, &resp);
	}
	exec_done(c);
}

static int
handle_sync(struct conn *c, const struct proto_req *req)
{
	if (durable_wait_sync(&c->loop->dur, sync_answered, c) != 0)
	{
		reply_error(c, req, STRATA_ENOMEM, NULL);
		return 0;
	}
	return 1;
}

/* Execute one non-GETPAGE request: 1 if its answer comes later. */
static int
exec_single(struct conn *c, struct timeline *tl, const struct proto_req *req)
{
	struct proto_resp resp;
	lsn_t		last = atomic_load(&tl->last_record_lsn);
	lsn_t		lsn = req->request_lsn < last ? req->request_lsn : last;
	uint32_t	nblocks;
	int			err;

	memset(&resp, 0, sizeof(resp));
	if (req->request_lsn == LSN_INVALID || req->request_lsn < req->nms)
	{
		reply_error(c, req, STRATA_EINVAL, "request LSN is 0 or older than not_modified_since");
		return 0;
	}
	switch (req->tag)
	{
		case PROTO_EXISTS:
			err = tl_nblocks(tl, &req->rel, lsn, &nblocks);
			resp.exists = err == 0;
			reply_ok(c, req, &resp);
			return 0;
		case PROTO_NBLOCKS:
			if ((err = tl_nblocks(tl, &req->rel, lsn, &nblocks)) != 0)
			{
				reply_error(c, req, err, "relation fork does not exist");
				return 0;
			}
			resp.nblocks = nblocks;
			reply_ok(c, req, &resp);
			return 0;
		case PROTO_DBSIZE:
			resp.dbsize = tl_dbsize(tl, req->db);
			reply_ok(c, req, &resp);
			return 0;
		case PROTO_CREATE:
		case PROTO_WRITE:
		case PROTO_EXTEND:
		case PROTO_TRUNCATE:
		case PROTO_UNLINK:
		case PROTO_DROPDB:
		case PROTO_RESET_UNLOGGED:
			if (c->read_only)
			{
				reply_error(c, req, STRATA_EREADONLY, "this connection is read-only (strata.mode=ro)");
				return 0;
			}
			return handle_change(c, tl, req);
		case PROTO_SYNC:
			return handle_sync(c, req);
		default:
			reply_error(c, req, STRATA_EUNSUPPORTED, "not supported by this stratad");
			return 0;
	}
}

static void
exec_start(struct conn *c)
{
	struct batch *b = c->exec;
	struct proto_req req;
	struct timeline *tl;
	int			later;

	if (b->raw == NULL)
	{
		exec_getpages(c, b);
		return;
	}
	if (proto_decode_req(b->raw, b->raw_len, &req) != 0)
	{
		/* checked when read; cannot happen */
		conn_violation(c, "malformed pagestream message");
		exec_done(c);
		return;
	}
	if ((tl = handle_upgrade(c->h)) == NULL)
	{
		conn_shutting_down(c);
		exec_done(c);
		return;
	}
	b->r[0] = (struct preq) {.req = req, .phase = RQ_THROTTLED, .since_ns = b->raw_ns,
	.recv_ns = b->raw_ns};
	b->n = 1;
	rq_enter(c->srv, &b->r[0], RQ_EXECUTING, clock_mono_ns());
	later = exec_single(c, tl, &req);
	/* a waiting write or SYNC holds no reference: on_tl_stop clears it */
	tl_unref(tl);
	if (!later)
		exec_done(c);
}

/* Start the pending batch if the executor is free and the client keeps up. */
void
exec_kick(struct conn *c)
{
	struct batch *b;
	uint64_t	now;

	if (c->exec_busy || c->state != CONN_COPY || (c->pend->n == 0 && c->pend->raw == NULL))
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > PAGESVC_OUTPUT_PAUSE)
		return;					/* on_write resumes us, holding nothing meanwhile */
	if (c->pages == NULL && (c->pages = malloc((size_t) c->srv->max_batch_size *
											   PROTO_PAGE_SIZE)) == NULL)
	{
		pgwire_put_error(c, "FATAL", "53200", "stratad is out of memory");
		conn_close(c);
		return;
	}
	b = c->pend;
	c->pend = c->exec;
	c->exec = b;
	c->exec_busy = 1;
	now = clock_mono_ns();
	for (uint32_t i = 0; i < b->n; i++)
		rq_enter(c->srv, &b->r[i], RQ_BATCHED, now);
	exec_start(c);
}

/* ---------- the batcher ---------- */

/* Fold a request read at t into the pending batch. */
void
exec_add_request(struct conn *c, const uint8_t *buf, size_t len, uint64_t t)
{
	struct batch *b = c->pend;
	struct proto_req req;

	if (proto_decode_req(buf, len, &req) != 0)
	{
		conn_violation(c, "malformed pagestream message (tag %u, %zu bytes)",
					   len > 0 ? buf[0] : 0, len);
		return;
	}
	c->srv->m.requests[req.tag]++;
	if (req.tag != PROTO_GETPAGE)
	{
		if ((b->raw = malloc(len)) == NULL)
		{
			slog(SLOG_ERROR, "pagesvc: out of memory conn=%llu", (unsigned long long) c->id);
			conn_close(c);
			return;
		}
		memcpy(b->raw, buf, len);
		b->raw_len = len;
		b->raw_ns = t;
		b->closed = 1;
		return;
	}
	b->r[b->n] = (struct preq) {.req = req, .phase = RQ_RECEIVED, .since_ns = t, .recv_ns = t};
	rq_enter(c->srv, &b->r[b->n], RQ_THROTTLED, clock_mono_ns());
	if (++b->n == (uint32_t) c->srv->max_batch_size)
		b->closed = 1;
}

