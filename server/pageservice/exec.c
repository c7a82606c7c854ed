/*-------------------------------------------------------------------------
 *
 * pagesvc.c
 *	  The page service (see pagesvc.h).
 *
 * Connection states:
 *
 *	STARTUP --unix peer ok--------------> QUERY --strata_pagestream--> COPY
 *	   |  \--TCP--> AUTH --token ok----/   |                          |
 *	   +--------- any violation, bad token or client exit ----------> CLOSING
 *
 * conn_process() performs the transitions; conn_close() enters CLOSING,
 * which flushes queued output (bounded by a timeout) and frees.
 *
 * In COPY, two stages per connection (ARCHITECTURE.md, page service):
 *
 *	reader (conn_process): parses requests, throttles GETPAGEs, folds
 *	  consecutive GETPAGEs into the pending batch (max_batch_size); any
 *	  other request is a batch of its own.  It stops while the pending
 *	  batch is closed, i.e. while the executor has not taken it.
 *	executor (exec_start .. exec_finish): runs one batch: a vectored read
 *	  (tl_pages_begin on the loop, tl_pages_finish on a read worker when
 *	  anything must come from history), then queues the responses in
 *	  request order.  A write waits for its group write's ack, a SYNC for
 *	  the sync thread.
 *
 * The executor takes a strong timeline reference only around the storage
 * read; while a batch waits (for the handoff, the worker, the client to
 * read) the connection holds a weak handle only (handles.h), so a client
 * that never reads cannot hold up a timeline's shutdown (I3, I4).  With
 * pipelining off, the reader reads nothing while a batch executes or its
 * responses wait to be written (serial read -> execute -> flush).
 *
 *-------------------------------------------------------------------------
 */
#include "pagesvc.h"
#include "pagesvc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "bytes.h"
#include "clock.h"
#include "key.h"
#include "layerfile.h"
#include "lsn.h"
#include "pagetrace.h"
#include "slog.h"
#include "tenant.h"
#include "timeline.h"
#include "strata_err.h"
#include "syncer.h"
#include "throttle.h"

#define STARTUP_MAX		10000
#define QUERY_MAX		65536
#define COPY_MAX		(PROTO_MAX_FRAME + 64)
#define OUTPUT_PAUSE	(8 * 1024 * 1024)
#define OUTPUT_RESUME	(1024 * 1024)
#define CLOSE_TIMEOUT_S	5

/* A request waiting for the group write or the sync thread. */
struct waiter
{
	struct conn *conn;			/* NULL once the connection closed */
	struct timeline *tl;		/* writes: borrowed; cleared when it stops */
	struct proto_req req;
	lsn_t		stored_lsn;
	uint64_t	ticket;			/* writes: tl_ticket_status() */
	uint64_t	target;			/* SYNC: the sync round that covers it */
	int			submitted;		/* writes: handed to the writer */
	int			err;			/* writes: the failure to answer */
	struct waiter *next;
};

const double server_exec_bucket_le[EXEC_BUCKETS] = {
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.1, 1, 10,
};

static struct conn *conns;
static uint64_t next_conn_id;
static struct evconnlistener *unix_listener;
static struct evconnlistener *tcp_listener;
static struct event *flush_ev;
static struct event *sync_timer;
static struct waiter *write_waiters;
static struct waiter **write_tail = &write_waiters;
static struct waiter *sync_waiters;
static uint64_t synced_round;
static uint64_t acks_since_sync;
static int	sync_running;
static uint8_t frame[COPY_MAX];
static uint8_t out[PROTO_HDR_SIZE + 64 + PROTO_PAGE_SIZE + 512];

static void conn_process(struct conn *c);
static void exec_kick(struct conn *c);

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
static void
batch_cancel(struct server *srv, struct batch *b)
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

/* Output drained: batches whose responses all reached the socket are flushed. */
static void
on_out_drain(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	uint64_t	now;

	(void) buf;
	/* queued while the socket is not being waited on: write it this iteration */
	if (info->n_added > 0 && c->write_ev && !(bufferevent_get_enabled(c->bev) & EV_WRITE) &&
		!event_pending(c->write_ev, EV_WRITE, NULL))
		event_active(c->write_ev, EV_WRITE, 0);
	if (info->n_deleted == 0)
		return;
	c->out_drained += info->n_deleted;
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

/* ---------- output ---------- */

static void
batch_free(struct batch *b)
{
	free(b->r);
	free(b->rd);
	free(b->raw);
	b->r = NULL;
	b->rd = NULL;
	b->raw = NULL;
}

/* Free the connection once its output drained, or after a timeout. */
static void
conn_free(struct conn *c)
{
	for (struct waiter *w = write_waiters; w; w = w->next)
		if (w->conn == c)
			w->conn = NULL;
	for (struct waiter *w = sync_waiters; w; w = w->next)
		if (w->conn == c)
			w->conn = NULL;
	if (c->in_worker)
	{
		/* its read finishes (it holds the timeline only for that), then we go */
		c->free_pending = 1;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->srv->m.connections--;
	free(c->held);
	if (c->throttle_ev)
		event_free(c->throttle_ev);
	if (c->write_ev)
		event_free(c->write_ev);
	if (c->owner && --c->srv->owner_conns == 0)
		c->srv->owner_left = time(NULL);
	if (c->pend)
	{
		batch_cancel(c->srv, c->pend);
		batch_cancel(c->srv, c->exec);
	}
	batch_free(&c->bat[0]);
	batch_free(&c->bat[1]);
	free(c->pages);
	hcache_shutdown(&c->hc);
	bufferevent_free(c->bev);
	free(c);
}

void
conn_close(struct conn *c)
{
	struct timeval tv = {CLOSE_TIMEOUT_S, 0};

	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	/* never hold a timeline while waiting for a client to read (I3) */
	hcache_shutdown(&c->hc);
	c->h = NULL;
	if (c->pend)
	{
		batch_cancel(c->srv, c->pend);
		if (!c->in_worker && !c->exec_busy)
			batch_cancel(c->srv, c->exec);
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
	{
		conn_free(c);
		return;
	}
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* A protocol violation: 08P01, a log line, close. */
void
conn_violation(struct conn *c, const char *fmt, ...)
{
	char		msg[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	slog(SLOG_WARNING, "pagesvc: protocol violation, closing connection: %s conn=%llu app=%s",
		 msg, (unsigned long long) c->id, c->app[0] ? c->app : "-");
	c->srv->m.protocol_violations++;
	pgwire_put_error(c, "FATAL", "08P01", msg);
	conn_close(c);
}

static void
shutting_down(struct conn *c)
{
	pgwire_put_error(c, "FATAL", "57P01", "terminating connection because the timeline is shutting down");
	conn_close(c);
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
	pgwire_put_msg(c, 'd', out, len);
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
	n = proto_encode_error(req, code, msg, out, sizeof(out));
	reply_frame(c, n);
}

/* Encoded straight into the output buffer: a page is copied once, here. */
static void
reply_ok(struct conn *c, const struct proto_req *req, const struct proto_resp *resp)
{
	struct pgwire_msg m;
	uint8_t    *buf = pgwire_begin_msg(c, sizeof(out), &m);
	size_t		n = buf ? proto_encode_resp(req, resp, buf, sizeof(out)) : 0;

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
		batch_cancel(c->srv, b);
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
		shutting_down(c);
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

/* ---------- group writes and syncs ---------- */

/* Answered waiters: their connections' executors take the next batch. */
static void
finish_waiters(struct waiter *done)
{
	while (done)
	{
		struct waiter *next = done->next;

		if (done->conn)
			exec_done(done->conn);
		free(done);
		done = next;
	}
}

/* Answer the writes of tl whose group reached the kernel (or failed). */
static void
on_tl_progress(struct timeline *tl, void *arg)
{
	struct waiter **pp = &write_waiters;
	struct waiter *done = NULL;
	struct waiter **dtail = &done;

	(void) arg;
	while (*pp)
	{
		struct waiter *w = *pp;
		int			st = w->tl == tl ? tl_ticket_status(tl, w->ticket) : 0;

		if (w->tl != tl || st == 0)
		{
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = NULL;
		w->err = st < 0 ? st : 0;
		*dtail = w;
		dtail = &w->next;
	}
	write_tail = &write_waiters;
	while (*write_tail)
		write_tail = &(*write_tail)->next;
	for (struct waiter *x = done; x; x = x->next)
	{
		if (x->conn == NULL)
			continue;
		if (x->err != 0)
			reply_error(x->conn, &x->req, x->err, NULL);
		else
		{
			acks_since_sync++;
			reply_lsn(x->conn, &x->req, x->stored_lsn, tl);
		}
	}
	finish_waiters(done);
}

/* End of a loop iteration: hand every timeline's group to its writer. */
static void
flush_group(struct server *srv)
{
	srv->m.group_writes++;
	for (struct waiter *w = write_waiters; w; w = w->next)
		if (w->tl && !w->submitted)
		{
			tl_submit(w->tl);
			for (struct waiter *x = w; x; x = x->next)
				if (x->tl == w->tl)
					x->submitted = 1;
		}
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	flush_group(arg);
}

static void
start_sync(struct server *srv)
{
	if (!sync_running)
	{
		sync_running = 1;
		syncer_request(srv->syncer);
	}
}

static void
stop_listening(struct server *srv)
{
	if (unix_listener)
	{
		evconnlistener_free(unix_listener);
		unix_listener = NULL;
		(void) unlink(srv->socket_path);
	}
	if (tcp_listener)
	{
		evconnlistener_free(tcp_listener);
		tcp_listener = NULL;
	}
}

static void
on_sync_done(uint64_t synced, int err, double seconds, void *arg)
{
	struct server *srv = arg;
	struct waiter **pp = &sync_waiters;
	struct waiter *done = NULL;
	int			more = 0;

	sync_running = 0;
	srv->m.syncs++;
	if (err != 0 && srv->exit_code == 0)
	{
		struct timeval grace = {0, 200000};

		/*
		 * Never retry a failed fsync: the kernel may have dropped the dirty
		 * pages.  Record it (the next start bumps the durability epoch, so
		 * computes recover from WAL), answer the waiters, and exit for the
		 * supervisor to restart us once their answers are out.
		 */
		srv->id.flags |= IDENTITY_FSYNC_FAILED;
		(void) identity_save(srv->datadir, &srv->id);
		srv->exit_code = 1;
		/* new connections must reach our successor, not us */
		stop_listening(srv);
		event_base_loopexit(srv->base, &grace);
	}
	srv->m.sync_seconds_sum += seconds;
	for (int i = 0; i < SYNC_BUCKETS; i++)
		if (seconds <= server_sync_bucket_le[i])
			srv->m.sync_buckets[i]++;
	if (err == 0)
		synced_round = synced;
	while (*pp)
	{
		struct waiter *w = *pp;

		if (err != 0 || w->target <= synced_round)
		{
			*pp = w->next;
			w->next = done;
			done = w;
		}
		else
		{
			more = 1;
			pp = &w->next;
		}
	}
	for (struct waiter *w = done; w; w = w->next)
	{
		if (w->conn == NULL)
			continue;
		if (err != 0)
			reply_error(w->conn, &w->req, err, "fdatasync of a write log failed");
		else
		{
			struct proto_resp resp;

			memset(&resp, 0, sizeof(resp));
			reply_ok(w->conn, &w->req, &resp);
		}
	}
	finish_waiters(done);
	if (more)
		start_sync(srv);
}

static void
on_sync_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void) fd;
	(void) what;
	if (acks_since_sync > 0)
	{
		acks_since_sync = 0;
		start_sync(srv);
	}
}

/* ---------- other requests (one per batch) ---------- */

/* Returns 1 if the answer comes later (exec_done then), 0 if answered. */
static int
handle_change(struct conn *c, struct timeline *tl, const struct proto_req *req)
{
	lsn_t		lsn = 0;
	uint64_t	ticket = 0;
	int			err = tl_prepare(tl, req, &lsn, &ticket);
	struct waiter *w;

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
	if ((w = calloc(1, sizeof(*w))) == NULL)
	{
		reply_error(c, req, STRATA_ENOMEM, NULL);
		return 0;
	}
	w->conn = c;
	w->tl = tl;					/* borrowed: on_tl_stop clears it */
	w->req = *req;
	w->req.page = NULL;
	w->stored_lsn = lsn;
	w->ticket = ticket;
	*write_tail = w;
	write_tail = &w->next;
	event_active(flush_ev, EV_TIMEOUT, 0);
	return 1;
}

static int
handle_sync(struct conn *c, const struct proto_req *req)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (w == NULL)
	{
		reply_error(c, req, STRATA_ENOMEM, NULL);
		return 0;
	}
	w->conn = c;
	w->req = *req;
	/* a sync round that starts after this covers every acknowledged write */
	w->target = syncer_next_round(c->srv->syncer);
	w->next = sync_waiters;
	sync_waiters = w;
	start_sync(c->srv);
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
		shutting_down(c);
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
static void
exec_kick(struct conn *c)
{
	struct batch *b;
	uint64_t	now;

	if (c->exec_busy || c->state != CONN_COPY || (c->pend->n == 0 && c->pend->raw == NULL))
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_PAUSE)
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

/* ---------- the reader ---------- */

/* Fold a request read at t into the pending batch. */
static void
add_request(struct conn *c, const uint8_t *buf, size_t len, uint64_t t)
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

static void
on_throttle_done(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	uint8_t    *held = c->held;

	(void) fd;
	(void) what;
	c->held = NULL;
	c->blocked = 0;
	if (c->state == CONN_COPY && held)
		add_request(c, held, c->held_len, c->held_ns);
	free(held);
	if (c->state != CONN_CLOSING)
		conn_process(c);
}

/*
 * A GETPAGE is throttled when it is read, before anything else happens to
 * it: the connection holds it (and reads nothing more) until its reserved
 * slot comes; reservations are in arrival order, so waiters go FIFO.  No
 * timeline reference is held while waiting.
 */
static int
throttled(struct conn *c, const uint8_t *buf, size_t len, uint64_t t)
{
	uint64_t	wait_us;
	struct timeval tv;

	if (len == 0 || buf[0] != PROTO_GETPAGE || c->throttle == NULL)
		return 0;
	if ((wait_us = throttle_reserve(c->throttle, throttle_now_us())) == 0)
		return 0;
	if (c->throttle_ev == NULL &&
		(c->throttle_ev = evtimer_new(c->srv->base, on_throttle_done, c)) == NULL)
		return 0;				/* no timer: serve it now rather than stall */
	if ((c->held = malloc(len)) == NULL)
		return 0;
	memcpy(c->held, buf, len);
	c->held_len = len;
	c->held_ns = t;
	c->blocked = 1;
	c->srv->m.throttled++;
	tv.tv_sec = (time_t) (wait_us / 1000000);
	tv.tv_usec = (suseconds_t) (wait_us % 1000000);
	evtimer_add(c->throttle_ev, &tv);
	return 1;
}

/*
 * Parse and handle every complete message the pending batch can take;
 * nonzero if the connection closed (it may be gone).
 */
static int
read_messages(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (!c->blocked && c->state != CONN_CLOSING)
	{
		uint8_t		hdr[6];
		size_t		avail = evbuffer_get_length(in);
		uint32_t	len;
		uint64_t	t;

		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_PAUSE)
		{
			bufferevent_disable(c->bev, EV_READ);
			break;
		}
		if (c->state == CONN_STARTUP)
		{
			if (avail < 8)
				break;
			evbuffer_copyout(in, hdr, 4);
			len = get_be32(hdr);
			if (len < 8 || len > STARTUP_MAX)
			{
				conn_violation(c, "invalid startup packet length %u", len);
				break;
			}
			if (avail < len)
				break;
			evbuffer_remove(in, frame, len);
			c->srv->m.bytes_received += len;
			pgwire_startup(c, frame, len);
			continue;
		}
		if (avail < 5)
			break;
		evbuffer_copyout(in, hdr, avail >= 6 ? 6 : 5);
		len = get_be32(hdr + 1);
		if (len < 4 || len - 4 > (c->state == CONN_COPY ? PROTO_MAX_FRAME : QUERY_MAX))
		{
			conn_violation(c, "invalid message length %u for message type '%c'", len,
						   hdr[0] >= 32 && hdr[0] < 127 ? hdr[0] : '?');
			break;
		}
		if (c->state == CONN_COPY && hdr[0] == 'd')
		{
			struct batch *p = c->pend;

			/* the pending batch is full, or this request cannot join it */
			if (p->closed || (p->n > 0 && (len < 5 || hdr[5] != PROTO_GETPAGE)))
			{
				p->closed = 1;
				exec_kick(c);	/* the executor may take it now */
				if (c->state != CONN_COPY)
					return 1;
				if (c->pend->closed)
					break;
				continue;
			}
			/* serial: nothing is read while a batch runs or waits to be written */
			if (!c->srv->pipelining && (c->exec_busy ||
										evbuffer_get_length(bufferevent_get_output(c->bev)) > 0))
				break;
		}
		if (avail < (size_t) len + 1)
			break;
		evbuffer_drain(in, 5);
		evbuffer_remove(in, frame, len - 4);
		c->srv->m.bytes_received += len + 1;
		switch (hdr[0])
		{
			case 'X':
				conn_close(c);
				return 1;
			case 'p':
				if (c->state != CONN_AUTH)
				{
					conn_violation(c, "unexpected password message");
					return 1;
				}
				pgwire_password(c, frame, len - 4);
				break;
			case 'Q':
				if (c->state != CONN_QUERY || len - 4 == 0 || frame[len - 5] != '\0')
				{
					conn_violation(c, "unexpected or malformed query message");
					return 1;
				}
				pgwire_query(c, (const char *) frame);
				break;
			case 'd':
				if (c->state != CONN_COPY)
				{
					conn_violation(c, "CopyData outside COPY");
					return 1;
				}
				t = clock_mono_ns();
				if (throttled(c, frame, len - 4, t))
					return 0;
				add_request(c, frame, len - 4, t);
				/* serial: one request at a time */
				if (!c->srv->pipelining && c->state == CONN_COPY)
					c->pend->closed = 1;
				break;
			case 'c':			/* CopyDone: the client ends the stream */
				conn_close(c);
				return 1;
			default:
				conn_violation(c, "unexpected message type '%c' in %s mode",
							   hdr[0] >= 32 && hdr[0] < 127 ? hdr[0] : '?',
							   c->state == CONN_COPY ? "COPY" : "query");
				return 1;
		}
	}
	return c->state == CONN_CLOSING;
}

/*
 * The reader.  Re-entered from the executor (a batch finished inline), it
 * only notes that it must run again: the outer call loops, so the stack
 * never grows with the number of requests buffered.
 */
static void
conn_process(struct conn *c)
{
	if (c->in_process)
	{
		c->again = 1;
		return;
	}
	c->in_process = 1;
	do
	{
		c->again = 0;
		if (read_messages(c) != 0)
			return;				/* closing, perhaps freed */
		if (c->state == CONN_COPY)
			exec_kick(c);
	} while (c->again && c->state != CONN_CLOSING);
	c->in_process = 0;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void) bev;
	conn_process(arg);
}

/*
 * Output went out (by the bufferevent or a direct write): resume reading
 * once it is small again; serial mode reads the next request only once
 * all of it is gone.
 */
static void
output_drained(struct conn *c, size_t queued)
{
	if (queued <= OUTPUT_RESUME && !(bufferevent_get_enabled(c->bev) & EV_READ))
		bufferevent_enable(c->bev, EV_READ);
	if (queued <= OUTPUT_RESUME || (!c->srv->pipelining && queued == 0))
		conn_process(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	size_t		queued = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->state == CONN_CLOSING)
	{
		if (queued == 0)
			conn_free(c);
		return;
	}
	/* all out: back to direct writes (on_direct_write) */
	if (queued == 0)
		bufferevent_disable(bev, EV_WRITE);
	output_drained(c, queued);
}

/*
 * Queued output is written right away, in the loop iteration that queued
 * it, instead of waiting for the socket's write readiness: a GETPAGE
 * round trip then costs no epoll_ctl and no extra epoll_wait.  Only what
 * the socket does not take now waits for the bufferevent (EV_WRITE).
 */
static void
on_direct_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *o = bufferevent_get_output(c->bev);

	(void) fd;
	(void) what;
	if (c->state == CONN_CLOSING || (bufferevent_get_enabled(c->bev) & EV_WRITE))
		return;
	while (evbuffer_get_length(o) > 0)
	{
		int			n;

		/* a bufferevent keeps its output's start frozen except in its own write */
		evbuffer_unfreeze(o, 1);
		n = evbuffer_write(o, bufferevent_getfd(c->bev));
		evbuffer_freeze(o, 1);
		if (n <= 0)
		{
			/* full, or an error the bufferevent's own write reports (on_event) */
			bufferevent_enable(c->bev, EV_WRITE);
			return;
		}
	}
	output_drained(c, 0);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void) bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
	{
		if (c->state != CONN_CLOSING && (what & BEV_EVENT_ERROR))
			slog(SLOG_DEBUG, "pagesvc: connection error conn=%llu: %s",
				 (unsigned long long) c->id, strerror(errno));
		if (c->state != CONN_CLOSING)
		{
			hcache_shutdown(&c->hc);
			c->h = NULL;
		}
		c->state = CONN_CLOSING;
		conn_free(c);
	}
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		  int socklen, void *arg)
{
	struct server *srv = arg;
	struct conn *c = calloc(1, sizeof(*c));

	(void) l;
	(void) socklen;
	if (c == NULL)
	{
		close(fd);
		return;
	}
	c->srv = srv;
	c->id = ++next_conn_id;
	c->is_unix = sa->sa_family == AF_UNIX;
	hcache_init(&c->hc);
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
	{
		close(fd);
		free(c);
		return;
	}
	c->write_ev = event_new(srv->base, -1, 0, on_direct_write, c);
	if (c->write_ev == NULL)
	{
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_RESUME, 0);
	/* new bufferevents are write-enabled: EV_WRITE only while output waits (on_direct_write) */
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_enable(c->bev, EV_READ);
	evbuffer_add_cb(bufferevent_get_output(c->bev), on_out_drain, c);
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	srv->m.connections++;
	srv->m.connections_total++;
}

void
pagesvc_attach(struct conn *c, struct timeline *tl)
{
	int			cap = c->srv->max_batch_size;

	for (int i = 0; i < 2; i++)
	{
		c->bat[i].c = c;
		c->bat[i].r = calloc((size_t) cap, sizeof(struct preq));
		c->bat[i].rd = calloc((size_t) cap, sizeof(struct tl_page_read));
	}
	if ((c->h = hcache_get(&c->hc, tl)) == NULL || c->bat[0].r == NULL || c->bat[1].r == NULL ||
		c->bat[0].rd == NULL || c->bat[1].rd == NULL)
	{
		slog(SLOG_ERROR, "pagesvc: out of memory conn=%llu", (unsigned long long) c->id);
		conn_close(c);
		return;
	}
	c->pend = &c->bat[0];
	c->exec = &c->bat[1];
	c->throttle = tl->throttle;
	tl_set_progress_cb(tl, on_tl_progress, c->srv);
}

/*
 * A timeline is shutting down: its connections end with 57P01 and their
 * waiting writes are dropped (never acknowledged), so nothing here keeps
 * it alive or waits for a client (I3, I4).
 */
static void
on_tl_stop(struct timeline *tl, void *arg)
{
	struct conn *c = conns;

	(void) arg;
	for (struct waiter *w = write_waiters; w; w = w->next)
		if (w->tl == tl)
		{
			w->tl = NULL;
			if (w->conn)
			{
				struct conn *wc = w->conn;

				w->conn = NULL;
				wc->exec->n = 0;	/* dropped, never acknowledged */
				wc->exec_busy = 0;
			}
		}
	while (c)
	{
		struct conn *next = c->next;

		if (c->h && c->h->tl == tl && c->state != CONN_CLOSING)
			shutting_down(c);
		c = next;
	}
	if (tl->trace)
		pagetrace_stop(tl);
	tl_set_progress_cb(tl, NULL, NULL);
}

int
pagesvc_start(struct server *srv, const char *socket_dir, const char *tcp_addr)
{
	struct sockaddr_un sun;
	struct timeval tv;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.%d", socket_dir,
				 srv->port) >= (int) sizeof(sun.sun_path))
	{
		slog(SLOG_ERROR, "pagesvc: socket path \"%s/.s.PGSQL.%d\" is too long (max %zu bytes)",
			 socket_dir, srv->port, sizeof(sun.sun_path) - 1);
		return STRATA_EINVAL;
	}
	(void) unlink(sun.sun_path);
	unix_listener = evconnlistener_new_bind(srv->base, on_accept, srv,
											LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
											(struct sockaddr *) &sun, sizeof(sun));
	if (unix_listener == NULL)
	{
		slog(SLOG_ERROR, "pagesvc: could not listen on \"%s\": %s", sun.sun_path, strerror(errno));
		return STRATA_EIO;
	}
	chmod(sun.sun_path, 0600);
	snprintf(srv->socket_path, sizeof(srv->socket_path), "%s", sun.sun_path);

	if (tcp_addr != NULL)
	{
		struct sockaddr_storage ss;
		int			sslen = sizeof(ss);
		char		addr[128];

		snprintf(addr, sizeof(addr), "%s:%d", tcp_addr, srv->port);
		if (evutil_parse_sockaddr_port(addr, (struct sockaddr *) &ss, &sslen) != 0)
		{
			slog(SLOG_ERROR, "pagesvc: bad TCP address \"%s\"", addr);
			return STRATA_EINVAL;
		}
		tcp_listener = evconnlistener_new_bind(srv->base, on_accept, srv,
											   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
											   128, (struct sockaddr *) &ss, sslen);
		if (tcp_listener == NULL)
		{
			slog(SLOG_ERROR, "pagesvc: could not listen on %s: %s", addr, strerror(errno));
			return STRATA_EIO;
		}
	}

	flush_ev = event_new(srv->base, -1, 0, on_flush, srv);
	event_priority_set(flush_ev, 1);
	sync_timer = event_new(srv->base, -1, EV_PERSIST, on_sync_timer, srv);
	if (syncer_start(srv->base, (syncer_fn) registry_sync_all, srv->reg, on_sync_done, srv,
					 &srv->syncer) != 0)
		return STRATA_ENOMEM;
	srv->reg->on_tl_stop = on_tl_stop;
	srv->reg->on_tl_stop_arg = srv;
	tv.tv_sec = srv->sync_interval_ms / 1000;
	tv.tv_usec = (srv->sync_interval_ms % 1000) * 1000;
	event_add(sync_timer, &tv);
	if (workers_start(srv->base, srv->read_workers, &srv->workers) != 0)
		return STRATA_ENOMEM;
	slog(SLOG_INFO, "pagesvc: listening on \"%s\"%s%s", sun.sun_path,
		 tcp_addr ? " and TCP " : "", tcp_addr ? tcp_addr : "");
	return 0;
}

int
pagesvc_stop(struct server *srv)
{
	int			err;

	stop_listening(srv);
	flush_group(srv);
	for (struct conn *c = conns, *next; c; c = next)
	{
		next = c->next;
		conn_close(c);
	}
	/* reads in flight finish; their connections go with them */
	workers_stop(srv->workers);
	srv->workers = NULL;
	while (conns)
	{
		conns->state = CONN_CLOSING;
		conn_free(conns);
	}
	while (write_waiters)
	{
		struct waiter *next = write_waiters->next;

		free(write_waiters);
		write_waiters = next;
	}
	write_tail = &write_waiters;
	while (sync_waiters)
	{
		struct waiter *next = sync_waiters->next;

		free(sync_waiters);
		sync_waiters = next;
	}
	syncer_stop(srv->syncer);
	srv->syncer = NULL;
	srv->reg->on_tl_stop = NULL;
	err = srv->exit_code ? STRATA_EIO : registry_sync_all(srv->reg);
	if (err == 0)
		slog(SLOG_INFO, "pagesvc: write logs synced");
	if (sync_timer)
		event_free(sync_timer);
	if (flush_ev)
		event_free(flush_ev);
	sync_timer = flush_ev = NULL;
	return err;
}
