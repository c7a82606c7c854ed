/*-------------------------------------------------------------------------
 *
 * loopview.h
 *	  What the management API reads of the page-service loop's state,
 *	  copied on that loop's thread.
 *
 * The API runs on its own thread (http.h).  Counters, the identity, the
 * read-write owner and a timeline's open layer and relation directory are
 * written on the page-service loop without locks; rather than make every
 * write on its hot path atomic, the API asks the loop for a copy, taken in
 * one call between two of its events (loopcall.h), so the copy is
 * consistent and the loop pays only when someone asks.
 *
 * API thread only.  The timelines passed in are the registry's (the API
 * thread changes the registry, so they stay valid during the call).
 * Fails with STRATA_ESHUTDOWN once the page-service loop is gone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_LOOPVIEW_H
#define STRATA_LOOPVIEW_H

#include <stdint.h>

#include "lsn.h"
#include "server.h"

struct timeline;

/* A timeline's loop-owned facts. */
struct loopview_tl
{
	int			has_open;		/* an open in-memory layer exists */
	lsn_t		open_lsn_start;
	uint64_t	open_bytes;		/* its bytes, 0 if none */
	uint32_t	nforks;			/* relation forks that exist */
};

/* The server's loop-owned state. */
struct loopview_server
{
	struct identity id;
	long long	owner_start;
	struct server_metrics m;
};

/*
 * Fill tlv[i] for tls[i] (n may be 0) and, if sv is not NULL, *sv, in one
 * call on the page-service loop.
 */
extern int	loopview_take(struct server *srv, struct timeline *const *tls, uint32_t n,
						  struct loopview_tl *tlv, struct loopview_server *sv);

#endif							/* STRATA_LOOPVIEW_H */
