/*-------------------------------------------------------------------------
 *
 * pagesvc.h
 *	  The page service: PostgreSQL v3 startup and the pagestream protocol
 *	  (common/proto.h) on each client connection.
 *
 * Per connection, on the loop thread: the startup packet (SSL/GSSENC
 * requests answered 'N', unix peers must have our uid, TCP peers send the
 * token as a cleartext password), one simple query "strata_pagestream <version> <tenant>
 * <timeline>" that switches to COPY BOTH, then one pagestream message per
 * CopyData frame, answered in order.  A malformed frame, an unknown tag or
 * an unexpected message type gets ErrorResponse 08P01 and a log line, and
 * closes that connection only; nothing from it is stored.  Semantic errors
 * get a pagestream ERROR and the connection goes on.
 *
 * Page writes arriving in one loop iteration are appended with one write
 * (a low-priority event flushes the group), then indexed and acknowledged;
 * the connection reads nothing more until its write is acknowledged.
 * SYNC waits for the sync thread.  A client that stops reading gets no
 * more of its input read once ~8 MiB of output is queued.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_PAGESVC_H
#define STRATA_PAGESVC_H

#include "server.h"

/* Start serving on the unix socket (and TCP if tcp_addr); logs failures. */
extern int	pagesvc_start(struct server *srv, const char *socket_dir, const char *tcp_addr);

/*
 * Stop accepting, close every connection, commit pending writes and sync
 * the log; 0 if everything acknowledged is durable.
 */
extern int	pagesvc_stop(struct server *srv);

#endif							/* STRATA_PAGESVC_H */
