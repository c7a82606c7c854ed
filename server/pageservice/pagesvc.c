/*-------------------------------------------------------------------------
 *
 * pagesvc.c
 *	  The page service's lifecycle (see pagesvc.h): the loop's listeners,
 *	  its durability state, attaching a connection to a timeline, and what
 *	  happens to connections when a timeline stops.
 *
 * The work itself is in conn.c (connections), exec.c (batches and
 * replies) and durability/durable.c (acks and syncs).
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

#include <event2/event.h>
#include <event2/listener.h>

#include "durable.h"
#include "pagetrace.h"
#include "slog.h"
#include "strata_err.h"
#include "tenant.h"
#include "timeline.h"

/* Also the durability path's reaction to a failed fsync (durable.h). */
static void
stop_listening(void *arg)
{
	struct pagesvc_loop *loop = arg;

	if (loop->unix_listener)
	{
		evconnlistener_free(loop->unix_listener);
		loop->unix_listener = NULL;
		(void) unlink(loop->srv->socket_path);
	}
	if (loop->tcp_listener)
	{
		evconnlistener_free(loop->tcp_listener);
		loop->tcp_listener = NULL;
	}
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
	tl_set_progress_cb(tl, durable_tl_progress, &c->loop->dur);
}

/* A write of wc's was dropped by on_tl_stop: its batch is over, unanswered. */
static void
write_dropped(void *arg)
{
	struct conn *wc = arg;

	wc->exec->n = 0;			/* dropped, never acknowledged */
	wc->exec_busy = 0;
}

/*
 * A timeline is shutting down: its connections end with 57P01 and their
 * waiting writes are dropped (never acknowledged), so nothing here keeps
 * it alive or waits for a client (I3, I4).
 */
static void
on_tl_stop(struct timeline *tl, void *arg)
{
	struct pagesvc_loop *loop = arg;
	struct conn *c = loop->conns;

	durable_drop_writes(&loop->dur, tl, write_dropped);
	while (c)
	{
		struct conn *next = c->next;

		if (c->h && c->h->tl == tl && c->state != CONN_CLOSING)
			conn_shutting_down(c);
		c = next;
	}
	if (tl->trace)
		pagetrace_stop(tl);
	tl_set_progress_cb(tl, NULL, NULL);
}

int
pagesvc_start(struct server *srv, const char *socket_dir, const char *tcp_addr)
{
	struct pagesvc_loop *loop;
	struct sockaddr_un sun;
	int			err;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.%d", socket_dir,
				 srv->port) >= (int) sizeof(sun.sun_path))
	{
		slog(SLOG_ERROR, "pagesvc: socket path \"%s/.s.PGSQL.%d\" is too long (max %zu bytes)",
			 socket_dir, srv->port, sizeof(sun.sun_path) - 1);
		return STRATA_EINVAL;
	}
	if ((loop = calloc(1, sizeof(*loop))) == NULL)
		return STRATA_ENOMEM;
	loop->srv = srv;
	loop->base = srv->base;
	srv->pagesvc = loop;
	(void) unlink(sun.sun_path);
	loop->unix_listener = evconnlistener_new_bind(loop->base, conn_accept, loop,
												  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
												  (struct sockaddr *) &sun, sizeof(sun));
	if (loop->unix_listener == NULL)
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
		loop->tcp_listener = evconnlistener_new_bind(loop->base, conn_accept, loop,
													 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
													 128, (struct sockaddr *) &ss, sslen);
		if (loop->tcp_listener == NULL)
		{
			slog(SLOG_ERROR, "pagesvc: could not listen on %s: %s", addr, strerror(errno));
			return STRATA_EIO;
		}
	}

	if ((err = durable_start(&loop->dur, srv, loop->base, stop_listening, loop)) != 0)
		return err;
	srv->reg->on_tl_stop = on_tl_stop;
	srv->reg->on_tl_stop_arg = loop;
	if (workers_start(srv->base, srv->read_workers, &srv->workers) != 0)
		return STRATA_ENOMEM;
	slog(SLOG_INFO, "pagesvc: listening on \"%s\"%s%s", sun.sun_path,
		 tcp_addr ? " and TCP " : "", tcp_addr ? tcp_addr : "");
	return 0;
}

int
pagesvc_stop(struct server *srv)
{
	struct pagesvc_loop *loop = srv->pagesvc;
	int			err;

	stop_listening(loop);
	durable_flush(&loop->dur);
	for (struct conn *c = loop->conns, *next; c; c = next)
	{
		next = c->next;
		conn_close(c);
	}
	/* reads in flight finish; their connections go with them */
	workers_stop(srv->workers);
	srv->workers = NULL;
	while (loop->conns)
	{
		loop->conns->state = CONN_CLOSING;
		conn_free(loop->conns);
	}
	srv->reg->on_tl_stop = NULL;
	err = durable_stop(&loop->dur);
	if (err == 0)
		slog(SLOG_INFO, "pagesvc: write logs synced");
	srv->pagesvc = NULL;
	free(loop);
	return err;
}
