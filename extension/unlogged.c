/*-------------------------------------------------------------------------
 *
 * unlogged.c
 *	  The unlogged-relation reset after a crash (ARCHITECTURE.md 2.5; see
 *	  unlogged.h).
 *
 * The flag lives in shared memory, which a crash-restart reinitializes,
 * so the postmaster's own memory remembers that it started before: a
 * second shmem startup in the same postmaster is a crash-restart.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "miscadmin.h"

#include "durability.h"
#include "errmap.h"
#include "filecache.h"
#include "relsize.h"
#include "ring.h"
#include "stats.h"
#include "unlogged.h"

void
unlogged_shmem_startup(void)
{
	static bool started;		/* postmaster memory: set after the first start */
	bool		crash = started;

	if (!started)
	{
		bool		crc_ok;
		ControlFileData *cf = get_controlfile(DataDir, &crc_ok);

		/* an unclean shutdown before this start means a crash too */
		if (crc_ok && cf->state != DB_SHUTDOWNED &&
			cf->state != DB_SHUTDOWNED_IN_RECOVERY)
			crash = true;
		pfree(cf);
		started = true;
	}
	if (crash)
		pg_atomic_write_u32(&strata_shared->need_unlogged_reset, 1);
}

void
unlogged_maybe_reset(void)
{
	LWLock	   *lock;
	struct proto_req req;
	ring_result res;

	if (pg_atomic_read_u32(&strata_shared->need_unlogged_reset) == 0 ||
		RecoveryInProgress())
		return;
	lock = &strata_shared->locks[STRATA_LOCK_RESET].lock;

	/*
	 * Under the lock until the flag is cleared: a second reset after
	 * someone wrote an unlogged relation would wipe it.  An ERROR releases
	 * the lock (LWLockReleaseAll) and leaves the flag set for a retry.
	 */
	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (pg_atomic_read_u32(&strata_shared->need_unlogged_reset) != 0)
	{
		memset(&req, 0, sizeof(req));
		req.tag = PROTO_RESET_UNLOGGED;
		req.request_lsn = GetXLogInsertRecPtr();
		ring_call(&req, &res);
		strata_count(SC_RESET_UNLOGGED, 1);
		if (res.error)
		{
			LWLockRelease(lock);
			errmap_report(&res, "reset unlogged relations");
		}
		relsize_forget_all();
		/* stratad rewrote pages the cache may hold */
		fc_forget_all();
		durability_register_change();
		pg_atomic_write_u32(&strata_shared->need_unlogged_reset, 0);
		ereport(LOG,
				(errmsg("strata: reset %u unlogged relation(s) from their init forks after a crash",
						res.count)));
	}
	LWLockRelease(lock);
}
