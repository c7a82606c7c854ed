/*-------------------------------------------------------------------------
 *
 * pagesvc_internal.h
 *	  What the page service's modules share: the loop, the connection and
 *	  the batch, and the functions they call in each other.
 *
 *	pagesvc.c	the loop's lifecycle: listening, attach, timeline stop
 *	conn.c		connections: accept, read and parse messages, the
 *				throttle hold, output drain and direct writes, close
 *	exec.c		the batcher and executor: GETPAGE batches, read workers,
 *				single requests, request timers, pagestream replies
 *	pgwire.c	PostgreSQL v3 messages, startup and the pagestream query
 *
 * Ownership: a struct pagesvc_loop owns its listeners, its connections
 * (the list conns), its durability state (durable.h) and its scratch
 * buffers; it borrows its event_base and struct server.  A struct conn is
 * owned by its loop from accept to conn_free() and belongs to that loop's
 * thread; it holds timelines only through weak handles (handles.h), and a
 * strong reference only while its batch's storage read runs (I3, I4).
 *
 * Threads: every function here runs on the thread dispatching the loop's
 * event_base.  The one exception is exec.c's read on a worker thread,
 * which touches only its struct batch (the connection waits: in_worker).
 *
 * Today stratad runs exactly one loop, on srv->base.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_PAGESVC_INTERNAL_H
#define STRATA_PAGESVC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/util.h>

#include "durable.h"
#include "handles.h"
#include "server.h"
#include "timeline.h"
#include "workers.h"

struct bufferevent;
struct evconnlistener;
struct sockaddr;
struct timeline;
struct throttle;

/* Largest message read in COPY: one frame and its message header. */
#define PAGESVC_COPY_MAX	(PROTO_MAX_FRAME + 64)
/* Largest pagestream response built in the scratch buffer. */
#define PAGESVC_OUT_MAX		(PROTO_HDR_SIZE + 64 + PROTO_PAGE_SIZE + 512)
/* Output queued beyond this: read and execute nothing more for the client. */
#define PAGESVC_OUTPUT_PAUSE	(8 * 1024 * 1024)

/* One page-service event loop and everything it serves. */
struct pagesvc_loop
{
	struct server *srv;			/* borrowed: process-wide state */
	struct event_base *base;	/* borrowed: dispatched by the loop's thread */
	struct conn *conns;			/* every open or closing connection */
	uint64_t	next_conn_id;
	struct evconnlistener *unix_listener;
	struct evconnlistener *tcp_listener;
	struct durable dur;			/* group writes, SYNCs, the sync timer */
	/* scratch, valid only within one callback */
	uint8_t		frame[PAGESVC_COPY_MAX];	/* conn.c: the message being handled */
	uint8_t		out[PAGESVC_OUT_MAX];	/* exec.c: the response being encoded */
};

/*
 * Connection states:
 *
 *	STARTUP --unix peer ok--------------> QUERY --strata_pagestream--> COPY
 *	   |  \--TCP--> AUTH --token ok----/   |                          |
 *	   +--------- any violation, bad token or client exit ----------> CLOSING
 *
 * pgwire_startup(), pgwire_password() and pgwire_query() perform the
 * forward transitions; conn_close() enters CLOSING, which flushes queued
 * output (bounded by a timeout) and frees.
 *
 * TLS happens inside STARTUP, on TCP when srv->tls_ctx is set:
 *
 *	NONE --SSLRequest: 'S' (conn_start_tls)--> HANDSHAKE --done (on_event)--> ON
 *	            any failure or CONN_HANDSHAKE_TIMEOUT_S: logged, freed <--/
 *
 * Only a startup packet that arrives in state ON goes on to AUTH; one in
 * NONE is refused (pgwire_classify()).
 */
enum conn_tls
{
	CONN_TLS_NONE,				/* plaintext (always so on the unix socket) */
	CONN_TLS_HANDSHAKE,			/* 'S' sent; bev is an OpenSSL one, accepting */
	CONN_TLS_ON,
};
enum conn_state
{
	CONN_STARTUP,
	CONN_AUTH,					/* TCP: waiting for the token */
	CONN_QUERY,
	CONN_COPY,
	CONN_CLOSING,
};

/* One request in a batch, with its timer state machine. */
struct preq
{
	struct proto_req req;		/* decoded (page NULL) */
	enum rq_phase phase;
	uint64_t	since_ns;		/* when it entered phase */
	uint64_t	recv_ns;		/* when it was read */
	uint32_t	rd;				/* its read in the batch, UINT32_MAX if answered without */
	int			err;			/* answered with this error instead */
};

/*
 * What the reader folds and the executor runs: consecutive GETPAGEs (at
 * most max_batch_size), or one other request kept as its raw frame.
 */
struct batch
{
	struct work work;			/* the storage read on a worker */
	struct conn *c;
	uint32_t	n;
	int			closed;			/* takes no more requests */
	uint8_t    *raw;			/* a single non-GETPAGE request (malloc'd) */
	size_t		raw_len;
	uint64_t	raw_ns;			/* when it was read */
	lsn_t		stored_lsn;		/* a write waiting for its ack: what the ack answers */
	struct preq *r;
	struct tl_page_read *rd;
	uint32_t	nrd;
	struct timeline *tl;		/* a strong ref only while the read runs */
	struct tl_snapshot *snap;
	lsn_t		clamp;			/* newest acknowledged LSN at execution */
};

#define FLUSH_RING 16

struct conn
{
	struct pagesvc_loop *loop;	/* its owner */
	struct server *srv;			/* loop->srv */
	struct bufferevent *bev;
	enum conn_state state;
	int			blocked;		/* a GETPAGE is held by the throttle */
	int			is_unix;
	enum conn_tls tls;
	int			tls_broken;		/* the session failed or ended: no close_notify */
	uint64_t	id;
	char		peer[64];		/* "address:port", or "local", for the log */
	char		app[64];
	char		options[512];	/* the startup packet's options */
	int			owner;			/* counted in srv->owner_conns */
	int			read_only;		/* strata.mode=ro: every change is refused */
	struct hcache hc;			/* weak timeline handles */
	struct tl_handle *h;		/* COPY: the timeline served (weak) */
	struct throttle *throttle;	/* its tenant's GETPAGE throttle, or NULL */
	uint8_t    *held;			/* a GETPAGE held by the throttle (malloc'd) */
	size_t		held_len;
	uint64_t	held_ns;
	struct event *throttle_ev;	/* fires when the held request may go */
	struct event *write_ev;		/* activated when output is queued: write it directly
								 * (plaintext only; NULL in TLS) */

	/* pipelining: the reader folds into pend while exec runs */
	struct batch bat[2];
	struct batch *pend;
	struct batch *exec;
	int			exec_busy;		/* exec is running (or its write awaits its ack) */
	int			in_worker;		/* exec's read is on a worker thread */
	int			free_pending;	/* free once the worker is done */
	int			in_process;		/* conn_process() is on the stack */
	int			again;			/* ... and must loop once more */
	uint8_t		(*pages)[PROTO_PAGE_SIZE];	/* the executing batch's pages */

	/* flush accounting: output bytes queued / written, per batch */
	uint64_t	out_queued;
	uint64_t	out_drained;
	struct
	{
		uint64_t	end;
		uint64_t	t_ns;
		uint32_t	n;
	}			fl[FLUSH_RING];
	int			fl_head;
	int			fl_n;
	struct conn *prev;
	struct conn *next;
};

/* pagesvc.c */
/* Serve tl on c (through a weak handle: c never keeps tl alive). */
extern void pagesvc_attach(struct conn *c, struct timeline *tl);

/* conn.c */
/* An evconnlistener callback; arg is the struct pagesvc_loop. */
extern void conn_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
						int socklen, void *arg);
/*
 * The reader: handle every complete message the pending batch can take.
 * Safe to re-enter from the executor (it then loops once more); c may be
 * freed when it returns if it closed.
 */
extern void conn_process(struct conn *c);
/* Enter CLOSING: flush queued output (5 s at most), then conn_free(). */
extern void conn_close(struct conn *c);
/*
 * Free c now, unless its read is on a worker: then read_done frees it.
 * Its waiters are forgotten, its batches cancelled.
 */
extern void conn_free(struct conn *c);
/* A protocol violation: ErrorResponse 08P01, a log line, close. */
extern void conn_violation(struct conn *c, const char *fmt, ...)
			__attribute__((format(printf, 2, 3)));
/* Its timeline is stopping: ErrorResponse 57P01, close. */
extern void conn_shutting_down(struct conn *c);
/*
 * Answer an SSLRequest on TCP with 'S' (in clear, after anything still
 * queued) and run the TLS handshake on the socket: c->bev becomes an
 * OpenSSL bufferevent.  Input already buffered behind the request is
 * refused (it was not encrypted: perhaps injected).  Nonzero if c was
 * closed (it may be gone).
 */
extern int	conn_start_tls(struct conn *c);

/* exec.c */
/* Fold a request read at t into the pending batch; may close c. */
extern void exec_add_request(struct conn *c, const uint8_t *buf, size_t len, uint64_t t);
/* Start the pending batch if the executor is free and the client keeps up. */
extern void exec_kick(struct conn *c);
/* c's output buffer lost bytes: account the batches now flushed. */
extern void exec_drained(struct conn *c);
/* Drop a batch's requests unanswered, accounting them as cancelled. */
extern void exec_batch_cancel(struct server *srv, struct batch *b);
/* Free a batch's arrays (at conn_free). */
extern void exec_batch_free(struct batch *b);

/* pgwire.c: messages of the PostgreSQL v3 protocol */
extern void pgwire_put_msg(struct conn *c, char type, const void *body, size_t len);
/*
 * A message of head and then tail, tail sent by reference (no copy):
 * done(tail, tail_len, arg) runs once it has left the buffer (or was
 * copied).  -1: nothing queued, done not run; -2: head queued but not
 * tail (out of memory), done not run: the stream is broken.
 */
extern int	pgwire_put_msg_ref(struct conn *c, char type, const void *head, size_t head_len,
							   const void *tail, size_t tail_len, evbuffer_ref_cleanup_cb done,
							   void *arg);
/*
 * Build a message in place in the output buffer, without a staging copy:
 * pgwire_begin_msg() returns room for up to max body bytes (NULL if out
 * of memory), pgwire_end_msg() commits len of them as one message.
 */
struct pgwire_msg
{
	struct evbuffer *o;
	void	   *iov_base;		/* private: one struct evbuffer_iovec */
	size_t		iov_len;
};
extern uint8_t *pgwire_begin_msg(struct conn *c, size_t max, struct pgwire_msg *m);
extern void pgwire_end_msg(struct conn *c, char type, struct pgwire_msg *m, size_t len);
extern void pgwire_put_error(struct conn *c, const char *severity, const char *sqlstate,
							 const char *msg);
extern void pgwire_put_ready(struct conn *c);
/*
 * What the first packet of a connection (or the next one, after an 'N')
 * asks for, by its code word.
 */
enum pgwire_request
{
	PGWIRE_STARTUP,				/* protocol 3.0: authenticate, say hello */
	PGWIRE_TLS_ACCEPT,			/* SSLRequest, TLS here: 'S' and the handshake */
	PGWIRE_TLS_DECLINE,			/* SSLRequest without TLS here, GSSENCRequest: 'N' */
	PGWIRE_CANCEL,				/* CancelRequest: nothing to cancel, close */
	PGWIRE_TLS_REQUIRED,		/* a plaintext startup on TCP where TLS is on: FATAL */
	PGWIRE_UNSUPPORTED,			/* another protocol, or a TLS request inside TLS: 08P01 */
};
/*
 * PostgreSQL's answers: TLS only on TCP (unix sockets stay plaintext),
 * required on TCP once configured; never GSSAPI encryption.
 */
extern enum pgwire_request pgwire_classify(uint32_t code, int is_unix, int tls_configured,
										   enum conn_tls tls);
/*
 * The startup packet (len bytes, length word included).  Nonzero if c
 * was closed (it may be gone).
 */
extern int	pgwire_startup(struct conn *c, const uint8_t *buf, size_t len);
/* A PasswordMessage in CONN_AUTH: the token. */
extern void pgwire_password(struct conn *c, const uint8_t *buf, size_t len);
/* A simple query: only "strata_pagestream ..." is understood. */
extern void pgwire_query(struct conn *c, const char *q);

/*
 * Whether the peer of unix socket fd runs as uid want (SO_PEERCRED);
 * *got gets its uid, or -1 if unknown (then false).
 */
extern int	pgwire_peer_uid_ok(int fd, uid_t want, uid_t *got);

#endif							/* STRATA_PAGESVC_INTERNAL_H */
