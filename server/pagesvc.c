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
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "bytes.h"
#include "key.h"
#include "lsn.h"
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

/* ---------- output ---------- */

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
	if (c->owner && --c->srv->owner_conns == 0)
		c->srv->owner_left = time(NULL);
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
	if (c->tl)
	{
		tl_unref(c->tl);
		c->tl = NULL;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
	{
		conn_free(c);
		return;
	}
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
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

static void
reply_ok(struct conn *c, const struct proto_req *req, const struct proto_resp *resp)
{
	size_t		n = proto_encode_resp(req, resp, out, sizeof(out));

	if (n == 0)
	{
		reply_error(c, req, STRATA_EINTERNAL, "could not encode the response");
		return;
	}
	reply_frame(c, n);
}

static void
reply_lsn(struct conn *c, const struct proto_req *req, lsn_t lsn)
{
	struct proto_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.stored_lsn = lsn;
	resp.count = c->tl ? tl_last_reset_count(c->tl) : 0;
	reply_ok(c, req, &resp);
}

/* ---------- group writes and syncs ---------- */

static void
unblock(struct conn *c)
{
	c->blocked = 0;
	if (c->state != CONN_CLOSING)
		conn_process(c);
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
			reply_lsn(x->conn, &x->req, x->stored_lsn);
		}
	}
	while (done)
	{
		struct waiter *next = done->next;

		if (done->conn)
			unblock(done->conn);
		free(done);
		done = next;
	}
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
	while (done)
	{
		struct waiter *next = done->next;

		if (done->conn)
			unblock(done->conn);
		free(done);
		done = next;
	}
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

/* ---------- pagestream requests ---------- */

static int
add_write_waiter(struct conn *c, const struct proto_req *req, lsn_t lsn, uint64_t ticket)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return STRATA_ENOMEM;
	w->conn = c;
	w->tl = c->tl;
	w->req = *req;
	w->req.page = NULL;
	w->stored_lsn = lsn;
	w->ticket = ticket;
	*write_tail = w;
	write_tail = &w->next;
	c->blocked = 1;
	event_active(flush_ev, EV_TIMEOUT, 0);
	return 0;
}

static void
handle_change(struct conn *c, const struct proto_req *req)
{
	lsn_t		lsn = 0;
	uint64_t	ticket = 0;
	int			err = tl_prepare(c->tl, req, &lsn, &ticket);

	if (err != 0)
	{
		reply_error(c, req, err, NULL);
		return;
	}
	if (ticket == 0)
	{
		reply_lsn(c, req, lsn);
		return;
	}
	if (add_write_waiter(c, req, lsn, ticket) != 0)
		reply_error(c, req, STRATA_ENOMEM, NULL);
}

static void
handle_sync(struct conn *c, const struct proto_req *req)
{
	struct waiter *w;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
	{
		reply_error(c, req, STRATA_ENOMEM, NULL);
		return;
	}
	w->conn = c;
	w->req = *req;
	/* a sync round that starts after this covers every acknowledged write */
	w->target = syncer_next_round(c->srv->syncer);
	w->next = sync_waiters;
	sync_waiters = w;
	c->blocked = 1;
	start_sync(c->srv);
}

static void
handle_request(struct conn *c, const uint8_t *buf, size_t len)
{
	struct server *srv = c->srv;
	struct proto_req req;
	struct proto_resp resp;
	lsn_t		last;
	lsn_t		lsn;
	uint32_t	nblocks;
	uint8_t		page[PROTO_PAGE_SIZE];
	int			err;

	if (proto_decode_req(buf, len, &req) != 0)
	{
		conn_violation(c, "malformed pagestream message (tag %u, %zu bytes)",
				  len > 0 ? buf[0] : 0, len);
		return;
	}
	srv->m.requests[req.tag]++;
	if (req.request_lsn == LSN_INVALID || req.request_lsn < req.nms)
	{
		reply_error(c, &req, STRATA_EINVAL, "request LSN is 0 or older than not_modified_since");
		return;
	}
	if (c->tl == NULL || (atomic_load(&c->tl->state) != TL_ACTIVE &&
						  atomic_load(&c->tl->state) != TL_BROKEN))
	{
		pgwire_put_error(c, "FATAL", "57P01", "terminating connection because the timeline is shutting down");
		conn_close(c);
		return;
	}
	/* phase 1 never waits for an LSN: read at what we have */
	last = atomic_load(&c->tl->last_record_lsn);
	lsn = req.request_lsn < last ? req.request_lsn : last;
	memset(&resp, 0, sizeof(resp));

	switch (req.tag)
	{
		case PROTO_EXISTS:
			err = tl_nblocks(c->tl, &req.rel, lsn, &nblocks);
			resp.exists = err == 0;
			reply_ok(c, &req, &resp);
			return;
		case PROTO_NBLOCKS:
			err = tl_nblocks(c->tl, &req.rel, lsn, &nblocks);
			if (err != 0)
			{
				reply_error(c, &req, err, "relation fork does not exist");
				return;
			}
			resp.nblocks = nblocks;
			reply_ok(c, &req, &resp);
			return;
		case PROTO_GETPAGE:
			err = tl_getpage(c->tl, &req.rel, req.blk, lsn, page);
			if (err != 0)
			{
				char		detail[128];

				snprintf(detail, sizeof(detail), "block %u: %s", req.blk,
						 err == STRATA_EEOF ? "beyond the end of the relation" :
						 err == STRATA_ENOTFOUND ? "relation fork does not exist" :
						 strata_strerror(err));
				reply_error(c, &req, err, detail);
				return;
			}
			resp.page = page;
			reply_ok(c, &req, &resp);
			return;
		case PROTO_DBSIZE:
			resp.dbsize = tl_dbsize(c->tl, req.db);
			reply_ok(c, &req, &resp);
			return;
		case PROTO_CREATE:
		case PROTO_WRITE:
		case PROTO_EXTEND:
		case PROTO_TRUNCATE:
		case PROTO_UNLINK:
		case PROTO_DROPDB:
		case PROTO_RESET_UNLOGGED:
			handle_change(c, &req);
			return;
		case PROTO_SYNC:
			handle_sync(c, &req);
			return;
		default:
			reply_error(c, &req, STRATA_EUNSUPPORTED, "not supported by this stratad");
			return;
	}
}

/* ---------- throttle ---------- */

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
		handle_request(c, held, c->held_len);
	free(held);
	if (c->state != CONN_CLOSING)
		conn_process(c);
}

/*
 * A GETPAGE is throttled when it is read, before anything else happens to
 * it: the connection holds it (and reads nothing more) until its reserved
 * slot comes; reservations are in arrival order, so waiters go FIFO.  No
 * timeline reference is needed while waiting (the connection's is dropped
 * if the timeline stops, and the held request then fails there).
 */
static int
throttled(struct conn *c, const uint8_t *buf, size_t len)
{
	uint64_t	wait_us;
	struct timeval tv;

	if (len == 0 || buf[0] != PROTO_GETPAGE || c->tl == NULL || c->tl->throttle == NULL)
		return 0;
	if ((wait_us = throttle_reserve(c->tl->throttle, throttle_now_us())) == 0)
		return 0;
	if (c->throttle_ev == NULL &&
		(c->throttle_ev = evtimer_new(c->srv->base, on_throttle_done, c)) == NULL)
		return 0;				/* no timer: serve it now rather than stall */
	if ((c->held = malloc(len)) == NULL)
		return 0;
	memcpy(c->held, buf, len);
	c->held_len = len;
	c->blocked = 1;
	c->srv->m.throttled++;
	tv.tv_sec = (time_t) (wait_us / 1000000);
	tv.tv_usec = (suseconds_t) (wait_us % 1000000);
	evtimer_add(c->throttle_ev, &tv);
	return 1;
}

/* ---------- input ---------- */

/* Parse and handle every complete message, unless blocked or paused. */
static void
conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (!c->blocked && c->state != CONN_CLOSING)
	{
		uint8_t		hdr[5];
		size_t		avail = evbuffer_get_length(in);
		uint32_t	len;

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
		evbuffer_copyout(in, hdr, 5);
		len = get_be32(hdr + 1);
		if (len < 4 || len - 4 > (c->state == CONN_COPY ? PROTO_MAX_FRAME : QUERY_MAX))
		{
			conn_violation(c, "invalid message length %u for message type '%c'", len,
					  hdr[0] >= 32 && hdr[0] < 127 ? hdr[0] : '?');
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
				return;
			case 'p':
				if (c->state != CONN_AUTH)
				{
					conn_violation(c, "unexpected password message");
					return;
				}
				pgwire_password(c, frame, len - 4);
				break;
			case 'Q':
				if (c->state != CONN_QUERY || len - 4 == 0 || frame[len - 5] != '\0')
				{
					conn_violation(c, "unexpected or malformed query message");
					return;
				}
				pgwire_query(c, (const char *) frame);
				break;
			case 'd':
				if (c->state != CONN_COPY)
				{
					conn_violation(c, "CopyData outside COPY");
					return;
				}
				if (throttled(c, frame, len - 4))
					return;
				handle_request(c, frame, len - 4);
				break;
			case 'c':			/* CopyDone: the client ends the stream */
				conn_close(c);
				return;
			default:
				conn_violation(c, "unexpected message type '%c' in %s mode",
						  hdr[0] >= 32 && hdr[0] < 127 ? hdr[0] : '?',
						  c->state == CONN_COPY ? "COPY" : "query");
				return;
		}
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void) bev;
	conn_process(arg);
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
	if (queued <= OUTPUT_RESUME && !(bufferevent_get_enabled(bev) & EV_READ))
	{
		bufferevent_enable(bev, EV_READ);
		conn_process(c);
	}
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
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
	{
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_RESUME, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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
	tl_ref(tl);
	c->tl = tl;
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
				w->conn->blocked = 0;
				w->conn = NULL;
			}
		}
	while (c)
	{
		struct conn *next = c->next;

		if (c->tl == tl && c->state != CONN_CLOSING)
		{
			pgwire_put_error(c, "FATAL", "57P01",
							 "terminating connection because the timeline is shutting down");
			conn_close(c);
		}
		c = next;
	}
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
	while (conns)
	{
		struct conn *c = conns;

		conn_close(c);
		if (conns == c)
		{
			c->state = CONN_CLOSING;
			conn_free(c);
		}
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
