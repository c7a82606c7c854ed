/*-------------------------------------------------------------------------
 *
 * conn.h
 *	  This process's connection to stratad.
 *
 * One libpq connection per process, in COPY BOTH mode (proto.h), opened
 * lazily by conn_connect(): the libpq handshake, the "strata_pagestream"
 * start and the durability epoch check (I2) happen there.  The module
 * knows nothing about requests; it moves encoded messages and waits on
 * the socket.  The request ring (ring.h) is its only user apart from the
 * status view, and decides when to reconnect and what to re-send.
 *
 * Ownership: the PGconn and its wait event set are this module's, in
 * TopMemoryContext and libpq's own memory; they live until the connection
 * breaks.  Messages handed out by conn_receive() are libpq's and are
 * released with conn_free_message().
 *
 * Failure: a broken connection is logged, closed and counted as a
 * reconnect by the function that noticed it, which then returns false (or
 * -1); the caller reconnects when it next needs to.  Only conn_connect()
 * raises ERROR (stratad unreachable for strata.reconnect_timeout), and
 * PANIC if stratad's durability epoch changed.  Waits use the process
 * latch and CHECK_FOR_INTERRUPTS(), so any wait may ERROR on a cancel; a
 * latch wakeup consumed by such a wait is handed back to the caller's own
 * wait loop by conn_rearm_latch().
 *
 * Backends and auxiliary processes only; never the postmaster.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_CONN_H
#define STRATA_CONN_H

#include "postgres.h"

#include "utils/guc.h"

/*
 * Connect unless connected, retrying with backoff until
 * strata.reconnect_timeout.  If the deadline passes, give_up() is called
 * first (to drop whatever must not outlive the connection), then ERROR.
 */
extern void conn_connect(void (*give_up) (void));

/*
 * GUC check hook of strata.stratad_connstring: refuses a value libpq
 * cannot parse, one that carries a password, passfile or sslpassword
 * (secrets come from files: strata.stratad_token_file), or an sslmode
 * other than disable or verify-full, as ALTER SYSTEM would write it.  At
 * postmaster start it accepts everything: conn_check_settings() decides.
 */
extern bool conn_check_connstring(char **newval, void **extra, GucSource source);

/*
 * At load, after the GUCs are defined: FATAL if strata.stratad_connstring
 * carries a secret or a TLS mode that does not verify the server (as the
 * check hook refuses them); WARNING if it reaches stratad over TCP
 * without TLS.
 */
extern void conn_check_settings(void);

/* Close the connection, if any, without logging. */
extern void conn_close(void);

/* Log that the connection broke (why: libpq's reason), close it, count it. */
extern void conn_lost(const char *why);

extern bool conn_connected(void);

/*
 * Queue one encoded message in libpq's output buffer, pushing some out if
 * the buffer is full.  Precondition: connected.  false if the connection
 * broke (already handled by conn_lost()).
 */
extern bool conn_send(const uint8 *msg, size_t len);

/*
 * Push queued output to the socket.  Precondition: connected.  false if
 * the connection broke (already handled).
 */
extern bool conn_flush(void);

/*
 * Take the next complete message libpq has buffered, without waiting.
 * Returns its length with *msg set (free it with conn_free_message()), 0
 * if none is complete, -1 if the connection broke or the stream ended
 * (already handled).  Precondition: connected.
 */
extern int	conn_receive(char **msg);
extern void conn_free_message(char *msg);

/*
 * Wait up to a second for events (WL_SOCKET_*) on the socket or for the
 * latch, absorbing any input that arrived.  Precondition: connected.
 * false if the connection broke (already handled).
 */
extern bool conn_wait(uint32 events);

/* Set the latch again if one of our waits consumed a wakeup. */
extern void conn_rearm_latch(void);

/*
 * Where we connect, for messages: the socket, or the connection string's
 * host and port (never its password, which is stratad's token).
 */
extern const char *conn_target(void);

/* A ParameterStatus stratad reported at connect, or NULL. */
extern const char *conn_param(const char *name);

#endif							/* STRATA_CONN_H */
