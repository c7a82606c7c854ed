/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  Page-service connections (see pagesvc_internal.h): accepting,
 *	  reading and parsing messages, the throttle hold, output and closing.
 *
 * Input is read only while output is small: past PAGESVC_OUTPUT_PAUSE
 * queued bytes the reader stops (and reads again below OUTPUT_RESUME), so
 * a client that stops reading holds a bounded buffer and nothing else.
 * Output is written directly in the iteration that queued it
 * (on_direct_write); only what the socket refuses waits for EV_WRITE.
 * A TLS connection (conn_start_tls) has an OpenSSL bufferevent instead,
 * which encrypts and writes on EV_WRITE itself: no direct writes there.
 *
 * A connection is freed by conn_free(), directly on an error or EOF, or
 * once CLOSING drained its output; never while its read is on a worker.
 *
 *-------------------------------------------------------------------------
 */
#include "pagesvc_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bytes.h"
#include "clock.h"
#include "durable.h"
#include "slog.h"
#include "throttle.h"
#include "tls.h"

#define STARTUP_MAX		10000
#define QUERY_MAX		65536
#define OUTPUT_RESUME	(1024 * 1024)
#define CLOSE_TIMEOUT_S	5
/* A TLS handshake must be done by then (PostgreSQL's authentication_timeout). */
#define CONN_HANDSHAKE_TIMEOUT_S 60

/* Free the connection once its output drained, or after a timeout. */
void
conn_free(struct conn *c)
{
	durable_forget(&c->loop->dur, c);
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
		c->loop->conns = c->next;
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
		exec_batch_cancel(c->srv, c->pend);
		exec_batch_cancel(c->srv, c->exec);
	}
	exec_batch_free(&c->bat[0]);
	exec_batch_free(&c->bat[1]);
	free(c->pages);
	hcache_shutdown(&c->hc);
	if (c->tls == CONN_TLS_ON && !c->tls_broken)
	{
		/* close_notify, so the client sees an end rather than a truncation */
		(void) SSL_shutdown(bufferevent_openssl_get_ssl(c->bev));	/* best effort */
		ERR_clear_error();
	}
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
		exec_batch_cancel(c->srv, c->pend);
		if (!c->in_worker && !c->exec_busy)
			exec_batch_cancel(c->srv, c->exec);
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
	slog(SLOG_WARNING, "pagesvc: protocol violation, closing connection: %s conn=%llu peer=%s app=%s",
		 msg, (unsigned long long) c->id, c->peer, c->app[0] ? c->app : "-");
	c->srv->m.protocol_violations++;
	pgwire_put_error(c, "FATAL", "08P01", msg);
	conn_close(c);
}

void
conn_shutting_down(struct conn *c)
{
	pgwire_put_error(c, "FATAL", "57P01", "terminating connection because the timeline is shutting down");
	conn_close(c);
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
		exec_add_request(c, held, c->held_len, c->held_ns);
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
		(c->throttle_ev = evtimer_new(c->loop->base, on_throttle_done, c)) == NULL)
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
	uint8_t    *frame = c->loop->frame;

	while (!c->blocked && c->state != CONN_CLOSING)
	{
		/* conn_start_tls() replaces c->bev */
		struct evbuffer *in = bufferevent_get_input(c->bev);
		uint8_t		hdr[6];
		size_t		avail = evbuffer_get_length(in);
		uint32_t	len;
		uint64_t	t;

		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > PAGESVC_OUTPUT_PAUSE)
		{
			bufferevent_disable(c->bev, EV_READ);
			break;
		}
		if (c->state == CONN_STARTUP)
		{
			/* judge the length as soon as it is here, as PostgreSQL does */
			if (avail < 4)
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
			if (pgwire_startup(c, frame, len) != 0)
				return 1;
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
				exec_add_request(c, frame, len - 4, t);
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
void
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
	/* all out: back to direct writes (on_direct_write); TLS always writes itself */
	if (queued == 0 && c->tls == CONN_TLS_NONE)
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

/*
 * The output buffer changed.  Queued while the socket is not being
 * waited on: write it this iteration (on_direct_write).  Drained: the
 * executor accounts the batches now flushed.
 */
static void
on_out_drain(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	(void) buf;
	if (info->n_added > 0 && c->write_ev && !(bufferevent_get_enabled(c->bev) & EV_WRITE) &&
		!event_pending(c->write_ev, EV_WRITE, NULL))
		event_active(c->write_ev, EV_WRITE, 0);
	if (info->n_deleted == 0)
		return;
	c->out_drained += info->n_deleted;
	exec_drained(c);
}

/* A TLS handshake ended in what: logged once, with the peer and why. */
static void
handshake_failed(struct conn *c, short what)
{
	SSL		   *ssl = bufferevent_openssl_get_ssl(c->bev);
	long		verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char		why[512] = "";
	unsigned long e;

	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
	{
		/* libevent lists SSL_get_error()'s verdict too (a small number): not a reason */
		if (e > SSL_ERROR_WANT_CLIENT_HELLO_CB)
			tls_append_error(why, sizeof(why), e);
	}
	if (verify != X509_V_OK)
	{
		size_t		used = strlen(why);

		snprintf(why + used, sizeof(why) - used, "%s(client certificate: %s)",
				 used ? " " : "", X509_verify_cert_error_string(verify));
	}
	if (why[0] == '\0' && (what & BEV_EVENT_TIMEOUT))
		snprintf(why, sizeof(why), "not done within %d s", CONN_HANDSHAKE_TIMEOUT_S);
	else if (why[0] == '\0')
		snprintf(why, sizeof(why), "%s", (what & BEV_EVENT_EOF) || errno == 0 ||
				 errno == ECONNRESET ? "the client closed the connection" : strerror(errno));
	c->srv->m.tls_handshake_failures++;
	slog(SLOG_WARNING, "pagesvc: TLS handshake failed, closing connection conn=%llu peer=%s: %s",
		 (unsigned long long) c->id, c->peer, why);
}

/* The handshake is done: the startup packet comes next, encrypted. */
static void
handshake_done(struct conn *c)
{
	char		desc[512];

	c->tls = CONN_TLS_ON;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->srv->m.tls_handshakes++;
	tls_describe(bufferevent_openssl_get_ssl(c->bev), desc, sizeof(desc));
	slog(SLOG_DEBUG, "pagesvc: TLS established conn=%llu peer=%s: %s",
		 (unsigned long long) c->id, c->peer, desc);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void) bev;
	if ((what & BEV_EVENT_CONNECTED) && c->tls == CONN_TLS_HANDSHAKE)
	{
		handshake_done(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
	{
		if (c->tls == CONN_TLS_HANDSHAKE)
			handshake_failed(c, what);
		else if (c->state != CONN_CLOSING && (what & BEV_EVENT_ERROR))
			slog(SLOG_DEBUG, "pagesvc: connection error conn=%llu: %s",
				 (unsigned long long) c->id, strerror(errno));
		if (c->state != CONN_CLOSING)
		{
			hcache_shutdown(&c->hc);
			c->h = NULL;
		}
		c->tls_broken = 1;
		c->state = CONN_CLOSING;
		conn_free(c);
	}
}

/* Hook a bufferevent up to c: callbacks, watermark, output accounting. */
static void
setup_bev(struct conn *c, struct bufferevent *bev)
{
	c->bev = bev;
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(bev, EV_WRITE, OUTPUT_RESUME, 0);
	evbuffer_add_cb(bufferevent_get_output(bev), on_out_drain, c);
}

/* Queued output and 'S' onto the socket now; 0, or -1 (errno) if not all went. */
static int
write_ssl_answer(struct conn *c, evutil_socket_t fd)
{
	struct evbuffer *o = bufferevent_get_output(c->bev);
	int			ok;

	evbuffer_unfreeze(o, 1);
	ok = evbuffer_add(o, "S", 1) == 0;
	/* a few bytes to a socket that has sent nothing yet: they fit */
	while (ok && evbuffer_get_length(o) > 0)
		ok = evbuffer_write(o, fd) > 0;
	evbuffer_freeze(o, 1);
	if (!ok && errno == 0)
		errno = EAGAIN;
	return ok ? 0 : -1;
}

int
conn_start_tls(struct conn *c)
{
	struct bufferevent *plain = c->bev;
	struct bufferevent *bev;
	evutil_socket_t fd = bufferevent_getfd(plain);
	struct timeval tv = {CONN_HANDSHAKE_TIMEOUT_S, 0};
	SSL		   *ssl;

	if (evbuffer_get_length(bufferevent_get_input(plain)) > 0)
	{
		/* PostgreSQL's check (CVE-2021-23214): it could be a man in the middle's */
		conn_violation(c, "received unencrypted data after SSL request");
		return 1;
	}
	if ((ssl = SSL_new(c->srv->tls_ctx)) == NULL)
	{
		slog(SLOG_ERROR, "pagesvc: out of memory for TLS conn=%llu peer=%s",
			 (unsigned long long) c->id, c->peer);
		ERR_clear_error();
		pgwire_put_error(c, "FATAL", "53200", "out of memory");
		conn_close(c);
		return 1;
	}
	errno = 0;
	if (write_ssl_answer(c, fd) != 0)
	{
		slog(SLOG_WARNING, "pagesvc: could not answer an SSLRequest, closing connection "
			 "conn=%llu peer=%s: %s", (unsigned long long) c->id, c->peer, strerror(errno));
		SSL_free(ssl);
		c->state = CONN_CLOSING;
		conn_free(c);
		return 1;
	}
	/* the handshake runs on the same socket; the plain bufferevent lets go of it */
	bev = bufferevent_openssl_socket_new(c->loop->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
										 BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
	{
		/* ssl is freed; plain still owns fd and closes it */
		slog(SLOG_ERROR, "pagesvc: could not start TLS, closing connection conn=%llu peer=%s",
			 (unsigned long long) c->id, c->peer);
		c->state = CONN_CLOSING;
		conn_free(c);
		return 1;
	}
	(void) bufferevent_setfd(plain, -1);	/* cannot fail for a socket bufferevent */
	bufferevent_free(plain);	/* from inside its read callback: libevent defers it */
	event_free(c->write_ev);
	c->write_ev = NULL;
	c->tls = CONN_TLS_HANDSHAKE;
	setup_bev(c, bev);
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return 0;
}

/* "address:port" of sa for the log. */
static void
format_peer(const struct sockaddr *sa, char *buf, size_t len)
{
	char		addr[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		snprintf(buf, len, "%s:%u", addr, (unsigned) ntohs(in->sin_port));
	}
	else if (sa->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		snprintf(buf, len, "[%s]:%u", addr, (unsigned) ntohs(in6->sin6_port));
	}
	else
		snprintf(buf, len, "local");
}

void
conn_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			int socklen, void *arg)
{
	struct pagesvc_loop *loop = arg;
	struct server *srv = loop->srv;
	struct conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev;

	(void) l;
	(void) socklen;
	if (c == NULL)
	{
		close(fd);
		return;
	}
	c->loop = loop;
	c->srv = srv;
	c->id = ++loop->next_conn_id;
	c->is_unix = sa->sa_family == AF_UNIX;
	format_peer(sa, c->peer, sizeof(c->peer));
	/*
	 * As PostgreSQL does: a response may leave in several writes (TLS
	 * writes a record per buffer chunk), and Nagle would hold the second
	 * until the client's delayed ACK, 40 ms a round trip.
	 */
	if (!c->is_unix)
	{
		int			on = 1;

		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));	/* only latency */
	}
	hcache_init(&c->hc);
	bev = bufferevent_socket_new(loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
	{
		close(fd);
		free(c);
		return;
	}
	c->write_ev = event_new(loop->base, -1, 0, on_direct_write, c);
	if (c->write_ev == NULL)
	{
		bufferevent_free(bev);
		free(c);
		return;
	}
	setup_bev(c, bev);
	/* new bufferevents are write-enabled: EV_WRITE only while output waits (on_direct_write) */
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_enable(bev, EV_READ);
	c->next = loop->conns;
	if (loop->conns)
		loop->conns->prev = c;
	loop->conns = c;
	srv->m.connections++;
	srv->m.connections_total++;
}
