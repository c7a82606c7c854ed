/*-------------------------------------------------------------------------
 *
 * strata.h
 *	  Shared declarations of the strata extension: GUCs, shared memory,
 *	  counters, and each module's entry points.
 *
 * Everything here is set up in the postmaster (_PG_init and the shmem
 * hooks) and inherited by every child through fork().  Modules:
 *	patch		verified patching of the server's dispatch tables
 *	smgr		the storage manager: temp relations -> md, others -> stratad
 *	comm		this process's connection to stratad and its request ring
 *	readahead	sequential-read detection feeding the ring
 *	relsize		shared relation size cache
 *	lwlsn		shared last-written LSN cache
 *	xsync		checkpoint and commit-time SYNC
 *	supervisor	the bgworker that runs the embedded stratad
 *	dbsize		pg_relation_size() and friends on strata
 *	utility		refused DDL, DROP DATABASE, unlogged reset
 *	stats		shared counters and the SQL views
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_H
#define STRATA_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "access/xlogreader.h"
#include "storage/relfilenode.h"
#include "storage/sync.h"

#include "proto.h"

/* ---------- GUCs (strata.c) ---------- */
extern char *strata_stratad_connstring;
extern char *strata_tenant_id;
extern char *strata_timeline_id;
extern char *strata_stratad_path;
extern int	strata_stratad_http_port;
extern int	strata_stratad_sync_interval_ms;
extern char *strata_stratad_options;
extern int	strata_readahead_buffer_size;
extern int	strata_readahead_max;
extern int	strata_reconnect_timeout_ms;
extern int	strata_response_timeout_ms;
extern int	strata_relsize_cache_size;
extern int	strata_lwlsn_cache_size;

/* Whether the sidecar is the embedded one ($PGDATA/pg_strata). */
#define STRATA_EMBEDDED() (strata_stratad_connstring[0] == '\0')

/* ---------- counters (stats.c) ---------- */
typedef enum strata_counter
{
	SC_REQUESTS,				/* all requests sent */
	SC_GETPAGE,
	SC_WRITE,
	SC_EXTEND,
	SC_NBLOCKS,
	SC_EXISTS,
	SC_CREATE,
	SC_TRUNCATE,
	SC_UNLINK,
	SC_SYNC,
	SC_DBSIZE,
	SC_DROPDB,
	SC_RESET_UNLOGGED,
	SC_BYTES_SENT,
	SC_BYTES_RECEIVED,
	SC_PREFETCH_REQUESTS,		/* GETPAGEs sent ahead of need */
	SC_PREFETCH_HITS,			/* reads served from a prefetched slot */
	SC_PREFETCH_EXPIRED,		/* prefetched page too old, re-read */
	SC_PREFETCH_UNUSED,			/* prefetched page evicted unread */
	SC_READAHEAD_WINDOWS,		/* sequential runs detected */
	SC_READ_MISSES,				/* reads that waited for a fresh GETPAGE */
	SC_RELSIZE_HITS,
	SC_RELSIZE_MISSES,
	SC_CONNECTS,
	SC_RECONNECTS,
	SC_ERRORS,					/* error responses from stratad */
	SC_CHECKPOINT_SYNCS,
	SC_COMMIT_SYNCS,
	SC_NCOUNTERS
} strata_counter;

/* ---------- shared state ---------- */
typedef struct StrataShared
{
	pg_atomic_uint64 counters[SC_NCOUNTERS];

	/* xsync: writes acknowledged, and the count covered by a SYNC */
	pg_atomic_uint64 write_gen;
	pg_atomic_uint64 synced_gen;

	/* utility: set after a crash; the first normal process resets */
	pg_atomic_uint32 need_unlogged_reset;

	/* comm: stratad's durability epoch as first seen (0 = not yet) */
	pg_atomic_uint32 durability_epoch;

	/* supervisor: the embedded stratad */
	pg_atomic_uint32 stratad_pid;
	pg_atomic_uint32 stratad_starts;

	/* Locks: LOCK_RELSIZE guards the relsize hash; LOCK_RESET the reset. */
	LWLockPadded *locks;
} StrataShared;

#define STRATA_LOCK_RELSIZE 0
#define STRATA_LOCK_RESET	1
#define STRATA_NLOCKS		2

extern StrataShared *strata_shared;

static inline void
strata_count(strata_counter c, uint64 n)
{
	pg_atomic_fetch_add_u64(&strata_shared->counters[c], n);
}

extern const char *strata_counter_name(strata_counter c);
extern Size stats_shmem_size(void);
extern void stats_shmem_init(void);

/* ---------- relsize.c ---------- */
#define RELSIZE_NOT_EXISTS InvalidBlockNumber
extern Size relsize_shmem_size(void);
extern void relsize_shmem_init(void);
/* true and *nblocks (or RELSIZE_NOT_EXISTS) if cached */
extern bool relsize_get(RelFileNode rnode, ForkNumber fork, BlockNumber *nblocks);
extern void relsize_set(RelFileNode rnode, ForkNumber fork, BlockNumber nblocks);
/* raise a cached size to at least nblocks; no entry is created */
extern void relsize_extend(RelFileNode rnode, ForkNumber fork, BlockNumber nblocks);
/* change counter for I10: read before asking stratad, pass to set_if */
extern uint64 relsize_change_count(void);
extern void relsize_set_if_unchanged(RelFileNode rnode, ForkNumber fork,
									 BlockNumber nblocks, uint64 change_count);
extern void relsize_forget_rel(RelFileNode rnode);
extern void relsize_forget_db(Oid dbid);
extern void relsize_forget_all(void);

/* ---------- lwlsn.c ---------- */
extern Size lwlsn_shmem_size(void);
extern void lwlsn_shmem_init(void);
/*
 * An upper bound of the block's last-written LSN (collisions only raise
 * it); every lwlsn_advance() of the block moves it strictly upward, so
 * "unchanged since I asked" means "not written since I asked" (I9).
 */
extern XLogRecPtr lwlsn_get(RelFileNode rnode, ForkNumber fork, BlockNumber blk);
extern void lwlsn_advance(RelFileNode rnode, ForkNumber fork, BlockNumber blk,
						  XLogRecPtr lsn);

/* ---------- xsync.c ---------- */
extern int	xsync_md_syncfiletag(const FileTag *ftag, char *path);
extern void xsync_register_write(RelFileNode rnode, ForkNumber fork, bool skipFsync);
extern void xsync_init(void);
/* send SYNC now; ERROR on failure */
extern void xsync_sync_now(void);

/* ---------- supervisor.c ---------- */
extern void supervisor_register(void);
/* any process, embedded: start stratad if none runs */
extern void supervisor_ensure_running(void);
/* postmaster, embedded: import the cluster into stratad if not done yet */
extern void supervisor_import(void);
/* The embedded sidecar's socket directory for this data directory. */
extern char *supervisor_socket_dir(void);
PGDLLEXPORT void strata_supervisor_main(Datum arg);

/* ---------- dbsize.c ---------- */
extern const struct strata_builtin_patch *dbsize_patches(int *n);

/* ---------- utility.c ---------- */
extern void utility_init(void);
extern void utility_dbase_redo(XLogReaderState *record);
extern void utility_shmem_startup(void);
/* called before each stratad request outside recovery */
extern void utility_maybe_reset_unlogged(void);

/* ---------- smgr.c ---------- */
extern const struct strata_f_smgr *strata_smgr_table(void);

#endif							/* STRATA_H */
