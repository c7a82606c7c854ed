/*-------------------------------------------------------------------------
 *
 * durability.c
 *	  Making acknowledged writes crash-durable: SYNC at the checkpoint and
 *	  before committing writes that bypassed shared buffers (ARCHITECTURE.md
 *	  2.2, I1).
 *
 * A strata write registers a sync request exactly as md's
 * register_dirty_segment() does, so the checkpointer's pending-ops table
 * holds one entry per written relation fork.  The checkpoint's sync phase
 * calls syncsw[SYNC_HANDLER_MD].sync_syncfiletag for each, which we
 * patched to strata_md_syncfiletag(): the first call sends one SYNC to
 * stratad, and the rest see that every write acknowledged so far is
 * already covered (write_gen vs synced_gen) and return at once.  A failed
 * SYNC fails the checkpoint exactly like a failed fsync.
 *
 * Writes with skipFsync (index builds, CLUSTER, SET TABLESPACE, init
 * forks) rely on smgrimmedsync(), which never reaches us; the process
 * remembers them and sends SYNC at pre-commit / pre-prepare.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/relpath.h"
#include "storage/sync.h"
#include "miscadmin.h"

#include "durability.h"
#include "errmap.h"
#include "lsn.h"
#include "ring.h"
#include "stats.h"

static bool commit_sync_pending;

static void
advance_synced(uint64 gen)
{
	uint64		cur = pg_atomic_read_u64(&strata_shared->synced_gen);

	while (cur < gen &&
		   !pg_atomic_compare_exchange_u64(&strata_shared->synced_gen, &cur, gen))
		;
}

/* One SYNC; on success everything acknowledged before it is durable. */
static void
send_sync(ring_result *res)
{
	uint64		gen = pg_atomic_read_u64(&strata_shared->write_gen);
	struct proto_req req;

	memset(&req, 0, sizeof(req));
	req.tag = PROTO_SYNC;
	req.request_lsn = LSN_MAX;
	ring_call(&req, res);
	strata_count(SC_SYNC, 1);
	if (!res->error)
		advance_synced(gen);
}

void
durability_sync_now(void)
{
	ring_result res;

	send_sync(&res);
	if (res.error)
		errmap_report(&res, "sync stratad's log");
}

int
strata_md_syncfiletag(const FileTag *ftag, char *path)
{
	char	   *p = relpathperm(ftag->rnode, ftag->forknum);
	ring_result res;

	/* for ProcessSyncRequests()'s error message */
	strlcpy(path, p, MAXPGPATH);
	pfree(p);

	if (pg_atomic_read_u64(&strata_shared->write_gen) ==
		pg_atomic_read_u64(&strata_shared->synced_gen))
		return 0;
	send_sync(&res);
	strata_count(SC_CHECKPOINT_SYNCS, 1);
	if (!res.error)
		return 0;

	/*
	 * stratad's fsync failed: report it as a failed fsync, which
	 * ProcessSyncRequests() turns into a PANIC (data_sync_retry is off), so
	 * WAL replay rewrites whatever the kernel may have dropped.  Anything
	 * else (stratad unreachable) fails only this checkpoint.
	 */
	if (res.errcode == PROTO_E_IO_ERROR || res.errcode == PROTO_E_DISK_FULL)
	{
		ereport(LOG,
				(errmsg("strata: stratad could not sync its log: %s", res.errmsg)));
		errno = EIO;
		return -1;
	}
	errmap_report(&res, "sync stratad's log");
}

void
durability_register_write(RelFileNode rnode, ForkNumber fork, bool skipFsync)
{
	FileTag		tag;

	/* like md with fsync = off: nothing is ever synced */
	if (!enableFsync)
		return;
	if (skipFsync)
	{
		commit_sync_pending = true;
		return;
	}
	memset(&tag, 0, sizeof(tag));
	tag.handler = SYNC_HANDLER_MD;
	tag.forknum = fork;
	tag.rnode = rnode;
	tag.segno = 0;
	/* as md: if the checkpointer's queue is full, sync ourselves */
	if (!RegisterSyncRequest(&tag, SYNC_REQUEST, false))
		durability_sync_now();
}

/*
 * A change without pages (CREATE, UNLINK, DROPDB, RESET_UNLOGGED) must be
 * durable once the checkpoint whose redo point passed its WAL completes,
 * like a page write: after a host crash, recovery replays only the WAL
 * after that point.  It cannot register a sync request on its own fork,
 * which an unlink or DROP DATABASE cancels (md forgets a dropped
 * relation's requests), so it registers one on a sentinel tag that names
 * no relation (all OIDs invalid: no forget request ever matches it); the
 * sync handler only needs to be called for the SYNC to go out.
 */
void
durability_register_change(void)
{
	FileTag		tag;

	pg_atomic_fetch_add_u64(&strata_shared->write_gen, 1);
	if (!enableFsync)
		return;
	memset(&tag, 0, sizeof(tag));
	tag.handler = SYNC_HANDLER_MD;
	tag.forknum = MAIN_FORKNUM;
	tag.segno = 0;
	if (!RegisterSyncRequest(&tag, SYNC_REQUEST, false))
		durability_sync_now();
}

static void
durability_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (commit_sync_pending)
			{
				durability_sync_now();
				strata_count(SC_COMMIT_SYNCS, 1);
				commit_sync_pending = false;
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			commit_sync_pending = false;
			break;
		default:
			break;
	}
}

void
durability_init(void)
{
	RegisterXactCallback(durability_xact_callback, NULL);
}
