/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Shared state, counters and the SQL functions behind the strata views
 *	  (see stats.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "storage/shmem.h"
#include "utils/builtins.h"

#include "conn.h"
#include "filecache.h"
#include "ring.h"
#include "stats.h"
#include "strata.h"

StrataShared *strata_shared;

static const char *const counter_names[SC_NCOUNTERS] = {
	[SC_REQUESTS] = "requests",
	[SC_GETPAGE] = "getpage",
	[SC_WRITE] = "write",
	[SC_EXTEND] = "extend",
	[SC_NBLOCKS] = "nblocks",
	[SC_EXISTS] = "exists",
	[SC_CREATE] = "create",
	[SC_TRUNCATE] = "truncate",
	[SC_UNLINK] = "unlink",
	[SC_SYNC] = "sync",
	[SC_DBSIZE] = "dbsize",
	[SC_DROPDB] = "dropdb",
	[SC_RESET_UNLOGGED] = "reset_unlogged",
	[SC_BYTES_SENT] = "bytes_sent",
	[SC_BYTES_RECEIVED] = "bytes_received",
	[SC_PREFETCH_REQUESTS] = "prefetch_requests",
	[SC_PREFETCH_HITS] = "prefetch_hits",
	[SC_PREFETCH_EXPIRED] = "prefetch_expired",
	[SC_PREFETCH_UNUSED] = "prefetch_unused",
	[SC_READAHEAD_WINDOWS] = "readahead_windows",
	[SC_READ_MISSES] = "read_misses",
	[SC_RELSIZE_HITS] = "relsize_hits",
	[SC_RELSIZE_MISSES] = "relsize_misses",
	[SC_CONNECTS] = "connects",
	[SC_RECONNECTS] = "reconnects",
	[SC_ERRORS] = "errors",
	[SC_CHECKPOINT_SYNCS] = "checkpoint_syncs",
	[SC_COMMIT_SYNCS] = "commit_syncs",
	[SC_FC_HITS] = "file_cache_hits",
	[SC_FC_MISSES] = "file_cache_misses",
	[SC_FC_WRITES] = "file_cache_writes",
	[SC_FC_STORES] = "file_cache_stores",
	[SC_FC_STALE_SKIPS] = "file_cache_stale_skips",
	[SC_FC_EVICTIONS] = "file_cache_evictions",
	[SC_FC_INVALIDATIONS] = "file_cache_invalidations",
	[SC_FC_CORRUPT] = "file_cache_corrupt_pages",
	[SC_FC_IO_ERRORS] = "file_cache_io_errors",
};

const char *
strata_counter_name(strata_counter c)
{
	return counter_names[c];
}

Size
stats_shmem_size(void)
{
	return MAXALIGN(sizeof(StrataShared));
}

void
stats_shmem_init(void)
{
	bool		found;

	strata_shared = ShmemInitStruct("strata", stats_shmem_size(), &found);
	if (!found)
	{
		for (int i = 0; i < SC_NCOUNTERS; i++)
			pg_atomic_init_u64(&strata_shared->counters[i], 0);
		pg_atomic_init_u64(&strata_shared->write_gen, 0);
		pg_atomic_init_u64(&strata_shared->synced_gen, 0);
		pg_atomic_init_u32(&strata_shared->need_unlogged_reset, 0);
		pg_atomic_init_u32(&strata_shared->durability_epoch, 0);
		pg_atomic_init_u32(&strata_shared->stratad_pid, 0);
		pg_atomic_init_u32(&strata_shared->stratad_starts, 0);
	}
	strata_shared->locks = GetNamedLWLockTranche("strata");
}

PG_FUNCTION_INFO_V1(strata_stats);
PG_FUNCTION_INFO_V1(strata_status);

static void
put_row(ReturnSetInfo *rsinfo, const char *name, uint64 value)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum((int64) value);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * One row per counter, cluster-wide since the server started, then the
 * gauges (current values).
 */
Datum
strata_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < SC_NCOUNTERS; i++)
		put_row(rsinfo, counter_names[i], pg_atomic_read_u64(&strata_shared->counters[i]));
	put_row(rsinfo, "file_cache_used_bytes", fc_used_bytes());
	put_row(rsinfo, "file_cache_limit_bytes", fc_limit_bytes());
	return (Datum) 0;
}

/* What this compute is connected to, seen from the calling backend. */
Datum
strata_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {0};
	const char *tenant;
	const char *timeline;
	uint32		pid = pg_atomic_read_u32(&strata_shared->stratad_pid);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	ring_ensure_connected();
	tenant = conn_param("strata_tenant_id");
	timeline = conn_param("strata_timeline_id");

	values[0] = CStringGetTextDatum(STRATA_EMBEDDED() ? "embedded" : "remote");
	values[1] = CStringGetTextDatum(conn_target());
	values[2] = CStringGetTextDatum(tenant ? tenant : strata_tenant_id);
	values[3] = CStringGetTextDatum(timeline ? timeline : strata_timeline_id);
	values[4] = BoolGetDatum(conn_connected());
	values[5] = Int32GetDatum(ring_in_flight());
	if (pid != 0)
		values[6] = Int32GetDatum((int32) pid);
	else
		nulls[6] = true;
	values[7] = Int32GetDatum((int32) pg_atomic_read_u32(&strata_shared->stratad_starts));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
