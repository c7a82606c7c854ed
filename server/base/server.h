/*-------------------------------------------------------------------------
 *
 * server.h
 *	  stratad's process-wide state.
 *
 * struct server is created by main() (cmd/stratad.c) and lives until it
 * returns.  What a page-service loop owns (its connections, waiters,
 * listeners and scratch buffers) is not here but in its struct
 * pagesvc_loop (pageservice/pagesvc_internal.h); what stays here is what
 * every loop shares: the configuration, the registry, the sync thread,
 * the read-write owner of I19, the read workers and the metrics.
 *
 * Threads: the page-service loop (base) serves the computes; the
 * management API runs on its own loop and thread (api_base, http.h); the
 * sync thread (syncer.h), the read workers (workers.h), the timelines'
 * write-buffer flush threads and background threads (timeline.h) are the
 * others.  Who writes what:
 *
 *	- configuration (datadir .. rw_grace_ms, tls_ctx, max_batch_size .. read_workers):
 *	  main(), before the loops run; read-only afterwards, so the API thread
 *	  may read it directly (as it may state and reg).
 *	- id, state, exit_code: main() before and after the loop; while it
 *	  runs, the page-service loop thread only (pgwire.c records the system
 *	  identifier, durable.c a failed fsync).
 *	- owner_*: the page-service loop thread (pgwire.c, conn.c).
 *	- syncer, workers, pagesvc: pagesvc_start() and pagesvc_stop(); the
 *	  handles are used from the page-service loop thread.
 *	- m: the page-service loop thread only.  Other threads read it, and
 *	  everything else the loop owns, by running a call there (calls,
 *	  loopcall.h; the API's loopview.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_SERVER_H
#define STRATA_SERVER_H

#include <stdint.h>
#include <time.h>

#include "identity.h"
#include "proto.h"

#define SYNC_BUCKETS 12
#define EXEC_BUCKETS 14			/* execution / flush time, microsecond resolution */
#define BATCH_BUCKETS 8			/* batch sizes 1, 2, 4, ... 128 */

/* Phases of a request's life (pagesvc's timer state machine). */
enum rq_phase
{
	RQ_RECEIVED,				/* read, waiting for the throttle */
	RQ_THROTTLED,				/* past the throttle, waiting in the pending batch */
	RQ_BATCHED,					/* in the executing batch, not started */
	RQ_EXECUTING,				/* the storage read / write */
	RQ_FLUSHING,				/* response queued, not yet in the socket */
	RQ_DONE,
	RQ_NPHASES
};

/* A latency histogram: cumulative counts per upper bound, sum and count. */
struct hist
{
	uint64_t	le[EXEC_BUCKETS];
	uint64_t	count;
	double		sum;
};

/* Longest data directory path: every path built under it fits PATH_MAX. */
#define STRATA_DATADIR_MAX 1024

struct server_metrics
{
	uint64_t	requests[PROTO_TEST + 1];	/* by request tag */
	uint64_t	errors[PROTO_E_INTERNAL + 1];	/* by wire error code */
	uint64_t	protocol_violations;
	uint64_t	connections;	/* open now */
	uint64_t	connections_total;
	uint64_t	tls_handshakes; /* TLS sessions established (page service) */
	uint64_t	tls_handshake_failures;
	uint64_t	bytes_received;
	uint64_t	bytes_sent;
	uint64_t	syncs;
	uint64_t	sync_buckets[SYNC_BUCKETS]; /* cumulative counts per le */
	double		sync_seconds_sum;
	uint64_t	group_writes;
	uint64_t	throttled;		/* GETPAGEs held by a tenant's throttle */
	struct hist exec[PROTO_TEST + 1];	/* execution time by request tag */
	struct hist flush;			/* batch responses queued -> written to the socket */
	uint64_t	batch_le[BATCH_BUCKETS];	/* cumulative counts of batch sizes */
	uint64_t	batch_count;
	uint64_t	batch_sum;
	double		phase_seconds[RQ_NPHASES];	/* time requests spent in each phase */
	uint64_t	cancelled;		/* requests dropped unanswered (connection closed) */
	uint64_t	worker_reads;	/* batches read on a worker thread */
	uint64_t	import_pages;
};

extern const double server_sync_bucket_le[SYNC_BUCKETS];
extern const double server_exec_bucket_le[EXEC_BUCKETS];

struct pagesvc_loop;
struct workers;
struct loopcall;
struct ssl_ctx_st;

struct server
{
	struct event_base *base;
	struct loopcall *calls;		/* other threads' calls, run on base's thread */
	struct event_base *api_base;	/* the management API's loop (http.h) */
	struct loopcall *api_calls;	/* calls run on the API's thread */
	struct registry *reg;
	struct syncer *syncer;
	struct identity id;
	char		tenant_hex[IDENTITY_HEX_LEN];
	char		timeline_hex[IDENTITY_HEX_LEN];
	const char *datadir;
	char		socket_path[4096];
	char		http_addr[96];
	int			port;
	int			sync_interval_ms;
	const char *token;			/* TCP peers must present it (--token-file) */
	/*
	 * TLS for every TCP peer, page service and API (--tls-*; tls.h), or
	 * NULL: plaintext.  Set up by main() and only read afterwards, so the
	 * loops' threads share it.
	 */
	struct ssl_ctx_st *tls_ctx;
	const char *http_socket;	/* the API's unix socket, or NULL */
	int			metrics_no_auth;	/* GET /metrics needs no token */
	long long	open_files_limit;	/* RLIMIT_NOFILE after raising it */
	time_t		started;
	const char *state;			/* "importing", "active", "stopping" */
	int			exit_code;		/* 1 after a failed fsync: restart, bump the epoch
								 * (durable.h) */

	/*
	 * I19: one read-write compute per timeline.  Its postmaster start time
	 * (strata.start) owns the timeline while it has connections and for
	 * rw_grace_ms after the last one closed.
	 */
	long long	owner_start;	/* 0 = nobody */
	int			owner_conns;
	time_t		owner_left;
	int			rw_grace_ms;

	/* page service */
	int			max_batch_size; /* GETPAGEs folded into one vectored read */
	int			pipelining;		/* 0: serial read -> execute -> flush */
	int			read_workers;	/* threads for storage reads */
	struct workers *workers;
	struct pagesvc_loop *pagesvc;	/* the one page-service loop (pagesvc.h) */

	/*
	 * The WAL service (walrecv.h): the receiver streaming the default
	 * timeline's WAL from the compute (--wal-source), or NULL.  Started by
	 * main() before the API, stopped after it.
	 */
	struct walrecv *walrecv;
	const char *wal_slot;
	struct server_metrics m;
};

#endif							/* STRATA_SERVER_H */
