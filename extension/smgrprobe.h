/*-------------------------------------------------------------------------
 *
 * smgrprobe.h
 *	  Prove, per server build, that the patched smgrsw slots are reached.
 *
 * Finding smgrsw by its contents (tablepatch.c) proves where the table is,
 * not that the server calls through it: gcc compiled four of Debian 15.20's
 * slots into direct md calls, and another build could fold others.  So
 * after patching, the postmaster calls each public smgr entry point on a
 * sentinel relation that no real relation can equal (a temp relation of a
 * backend ID above MAX_BACKENDS), and each strata wrapper records the
 * sentinel instead of acting on it.  A slot strata relies on that was not
 * reached is FATAL (I12): that operation would silently bypass stratad.
 *
 * The probe runs only in the postmaster (or a standalone backend), before
 * anything is forked, and is disarmed afterwards, so children never see it
 * armed: the wrappers' cost is one predictable branch.
 *
 *	smgrprobe_install()	from _PG_init, right after tablepatch_install():
 *		open, create, exists, nblocks, extend, prefetch, read, write,
 *		writeback, close.  Needs no shared memory.
 *	smgrprobe_shmem()	from shmem_startup_hook in the postmaster:
 *		truncate (through smgrtruncate() and, if the server has it,
 *		smgrtruncate2()) and unlink (smgrdounlinkall()); both send a
 *		shared invalidation message first, which needs shared memory.
 *		No backend reads it: each starts past the queue's end.
 *
 * Not probed, because no public entry point is safe in the postmaster:
 * init and immedsync (md's own functions or a wrapper that is correct
 * whether or not it is reached; see smgr.c), and the md sync handler
 * (needs the checkpointer's pending-sync table; tablepatch.c matches
 * all 15 words of syncsw, and tools/minor-versions.sh checks each build).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_SMGRPROBE_H
#define STRATA_SMGRPROBE_H

#include "postgres.h"

#include "storage/relfilenode.h"

typedef enum smgrprobe_slot
{
	SP_OPEN,
	SP_CLOSE,
	SP_CREATE,
	SP_EXISTS,
	SP_UNLINK,
	SP_EXTEND,
	SP_PREFETCH,
	SP_READ,
	SP_WRITE,
	SP_WRITEBACK,
	SP_NBLOCKS,
	SP_TRUNCATE,
	SP_NSLOTS
} smgrprobe_slot;

/* True only while a probe runs in the postmaster. */
extern bool smgrprobe_armed;

extern bool smgrprobe_record(RelFileNodeBackend rnode, smgrprobe_slot slot);

/*
 * Called first by every strata smgr wrapper that a probe reaches (all but
 * init and immedsync, see above): true if rnode is the sentinel
 * of a running probe (the call is recorded, and the wrapper must return
 * without doing anything else).
 */
static inline bool
smgrprobe_hit(RelFileNodeBackend rnode, smgrprobe_slot slot)
{
	return unlikely(smgrprobe_armed) && smgrprobe_record(rnode, slot);
}

/* FATAL unless every relied-on slot was reached; see above for when. */
extern void smgrprobe_install(void);
extern void smgrprobe_shmem(void);

#endif							/* STRATA_SMGRPROBE_H */
