/*-------------------------------------------------------------------------
 *
 * pagesvc_internal.h
 *	  Shared between the page service (pagesvc.c) and the PostgreSQL wire
 *	  protocol pieces it uses (pgwire.c).  Loop thread only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_PAGESVC_INTERNAL_H
#define STRATA_PAGESVC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

struct bufferevent;
struct timeline;

enum conn_state
{
	CONN_STARTUP,
	CONN_AUTH,					/* TCP: waiting for the token */
	CONN_QUERY,
	CONN_COPY,
	CONN_CLOSING,
};

struct conn
{
	struct server *srv;
	struct bufferevent *bev;
	enum conn_state state;
	int			blocked;		/* a write or SYNC awaits completion */
	int			is_unix;
	uint64_t	id;
	char		app[64];
	char		options[512];	/* the startup packet's options */
	int			owner;			/* counted in srv->owner_conns */
	struct timeline *tl;		/* COPY: the timeline served (a ref) */
	uint8_t    *held;			/* a GETPAGE held by the throttle (malloc'd) */
	size_t		held_len;
	struct event *throttle_ev;	/* fires when the held request may go */
	struct conn *prev;
	struct conn *next;
};

/* pagesvc.c */
extern void conn_close(struct conn *c);
/* Serve tl on c (takes a ref, dropped when c closes). */
extern void pagesvc_attach(struct conn *c, struct timeline *tl);
/* A protocol violation: ErrorResponse 08P01, a log line, close. */
extern void conn_violation(struct conn *c, const char *fmt, ...)
			__attribute__((format(printf, 2, 3)));

/* pgwire.c: messages of the PostgreSQL v3 protocol */
extern void pgwire_put_msg(struct conn *c, char type, const void *body, size_t len);
extern void pgwire_put_error(struct conn *c, const char *severity, const char *sqlstate,
							 const char *msg);
extern void pgwire_put_ready(struct conn *c);
/* The startup packet (len bytes, length word included); may close c. */
extern void pgwire_startup(struct conn *c, const uint8_t *buf, size_t len);
/* A PasswordMessage in CONN_AUTH: the token. */
extern void pgwire_password(struct conn *c, const uint8_t *buf, size_t len);
/* A simple query: only "strata_pagestream ..." is understood. */
extern void pgwire_query(struct conn *c, const char *q);

#endif							/* STRATA_PAGESVC_INTERNAL_H */
