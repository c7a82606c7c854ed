/*-------------------------------------------------------------------------
 *
 * strata.h
 *	  The strata extension's GUCs and its map of modules.
 *
 * Everything here is set up in the postmaster (_PG_init and the shmem
 * hooks) and inherited by every child through fork().  The GUCs are
 * defined in strata.c; each module's interface is in its own header:
 *	tablepatch	verified patching of the server's dispatch tables
 *	smgr		the storage manager: temp relations -> md, others -> stratad
 *	ring		the in-order request ring every request goes through
 *	conn		this process's connection to stratad
 *	errmap		stratad's error codes as SQLSTATEs
 *	readahead	sequential-read detection feeding the ring
 *	relsize		shared relation size cache
 *	lwlsn		shared last-written LSN cache
 *	filecache	the local file cache between shared buffers and stratad
 *	wset		the working-set estimate (HyperLogLog) for sizing it
 *	durability	checkpoint and commit-time SYNC, the sync handler
 *	supervisor	the bgworker that runs the embedded stratad
 *	dbsize		pg_relation_size() and friends on strata
 *	ddl			refused DDL, DROP DATABASE
 *	unlogged	unlogged-relation reset after a crash
 *	stats		shared memory, counters and the SQL views
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_H
#define STRATA_H

#include "postgres.h"

#include "proto.h"

/* ---------- GUCs (strata.c) ---------- */
extern char *strata_stratad_connstring;
extern char *strata_stratad_token_file;
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
extern bool strata_wal_service;
extern bool strata_wal_synchronous;
extern int	strata_wal_keep_size_mb;

/* Whether the sidecar is the embedded one ($PGDATA/pg_strata). */
#define STRATA_EMBEDDED() (strata_stratad_connstring[0] == '\0')

#endif							/* STRATA_H */
