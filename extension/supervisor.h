/*-------------------------------------------------------------------------
 *
 * supervisor.h
 *	  The bgworker that runs the embedded stratad.
 *
 * Only with the embedded sidecar (STRATA_EMBEDDED()): the postmaster
 * imports the cluster into $PGDATA/pg_strata once, then registers the
 * supervisor bgworker, which starts stratad, adopts one that survived a
 * crash-restart and restarts it if it dies.  Failures at load are FATAL;
 * supervisor_ensure_running() never fails (a lost race leaves the winner
 * running).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_SUPERVISOR_H
#define STRATA_SUPERVISOR_H

#include "postgres.h"

#include "fmgr.h"

/* Postmaster, _PG_init: register the bgworker. */
extern void supervisor_register(void);
/* any process, embedded: start stratad if none runs */
extern void supervisor_ensure_running(void);
/* postmaster, embedded: import the cluster into stratad if not done yet */
extern void supervisor_import(void);
/* The embedded sidecar's socket directory for this data directory. */
extern char *supervisor_socket_dir(void);
/* The bgworker's entry point. */
PGDLLEXPORT void strata_supervisor_main(Datum arg);

#endif							/* STRATA_SUPERVISOR_H */
