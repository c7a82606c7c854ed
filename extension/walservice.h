/*-------------------------------------------------------------------------
 *
 * walservice.h
 *	  The compute's side of the WAL service (ARCHITECTURE.md 5.7): the
 *	  embedded stratad streams this cluster's WAL by physical replication.
 *
 * Nothing for the user to configure: with strata.wal_service on (the
 * default) the supervisor starts the embedded stratad with --wal-source
 * naming this postmaster's first unix socket and port; stratad connects
 * as the operating-system user it runs as, the cluster owner, which
 * pg_hba.conf admits for local replication by default (Debian: peer;
 * initdb: trust).  stratad creates the physical slot "strata" itself, so
 * the compute keeps WAL until stratad has it durably.
 *
 * The slot must not fill the disk when stratad is down or far behind:
 * unless the user set max_slot_wal_keep_size, walservice_init() sets it
 * to strata.wal_keep_size (a default of lower priority than the
 * configuration file).  When the limit is hit PostgreSQL invalidates the
 * slot; stratad then reports the lost range loudly.
 *
 * strata.wal_synchronous makes stratad a synchronous standby: unless the
 * user set synchronous_standby_names, it becomes "strata-1" (the embedded
 * stratad's node id), so with synchronous_commit on a commit returns only
 * once stratad has synced its WAL, and losing the compute's disk loses no
 * committed transaction.  While stratad is down, commits wait, as with
 * any synchronous standby.
 *
 * The service needs max_wal_senders > 0 and a unix socket; without them
 * walservice_init() says so (WARNING) and the service is off.
 *
 * Postmaster only: walservice_init() from _PG_init, walservice_source()
 * from the supervisor.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_WALSERVICE_H
#define STRATA_WALSERVICE_H

#include <stdbool.h>
#include <stddef.h>

extern void walservice_init(void);

/*
 * The --wal-source connection string for the embedded stratad; false if
 * the WAL service is off.
 */
extern bool walservice_source(char *buf, size_t len);

#endif							/* STRATA_WALSERVICE_H */
