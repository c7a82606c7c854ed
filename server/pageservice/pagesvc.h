/*-------------------------------------------------------------------------
 *
 * pagesvc.h
 *	  The page service: PostgreSQL v3 startup and the pagestream protocol
 *	  (common/proto.h) on each client connection.
 *
 * Per connection, on the loop thread: the startup packet (an SSLRequest
 * on TCP starts TLS when srv->tls_ctx is set, which TCP then requires;
 * otherwise it and GSSENCRequest get 'N'; unix peers must have our uid,
 * TCP peers send the token as a cleartext password; every client sends the startup options
 * of proto.h, and a strata.mode=ro one cannot change anything), one simple query "strata_pagestream
 * <version> <tenant> <timeline>" that switches to COPY BOTH, then one
 * pagestream message per CopyData frame, answered in order.  A malformed
 * frame, an unknown tag or an unexpected message type gets ErrorResponse
 * 08P01 and a log line, and closes that connection only; nothing from it
 * is stored.  Semantic errors get a pagestream ERROR and the connection
 * goes on.
 *
 * Page writes are acknowledged once in the kernel and SYNC once synced,
 * as durability/durable.h promises; the connection executes nothing more
 * until its write or SYNC is answered.  A client that stops reading gets
 * no more of its input read once ~8 MiB of output is queued.  When a
 * timeline stops, its connections end with 57P01 and their unanswered
 * writes are dropped (never acknowledged).
 *
 * Ownership and threads: pagesvc_start() creates the page-service loop
 * (struct pagesvc_loop, kept in srv->pagesvc) on srv->base, and starts the
 * process-wide sync thread (srv->syncer) and read workers (srv->workers);
 * pagesvc_stop() ends and frees them all.  Both run on the thread that
 * dispatches srv->base, outside its dispatch for pagesvc_stop().  There
 * is one loop today.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_PAGESVC_H
#define STRATA_PAGESVC_H

#include "server.h"

/*
 * Start serving on the unix socket "socket_dir/.s.PGSQL.port" (and on TCP
 * tcp_addr:port if tcp_addr is not NULL).  Logs and returns STRATA_EINVAL
 * (bad path or address), STRATA_EIO (cannot listen) or STRATA_ENOMEM; on
 * failure the caller exits without pagesvc_stop() (nothing is undone).
 */
extern int	pagesvc_start(struct server *srv, const char *socket_dir, const char *tcp_addr);

/*
 * Stop accepting, close every connection, hand pending writes to their
 * writers, stop the threads and sync every write log; 0 if everything
 * acknowledged is durable, else the error (STRATA_EIO after an fsync
 * failed: no retry).
 */
extern int	pagesvc_stop(struct server *srv);

#endif							/* STRATA_PAGESVC_H */
