/*-------------------------------------------------------------------------
 *
 * smgrprobe.c
 *	  Call the public smgr entry points on a sentinel relation and check
 *	  that strata's wrappers saw each call (see smgrprobe.h).
 *
 * The sentinel is a temp relation of a backend ID no process can have
 * (backend IDs stop at MAX_BACKENDS, 2^18 - 1), so the buffer manager
 * steps that smgrtruncate() and smgrdounlinkall() take first skip it
 * (another backend's temp buffers are not ours), and its OIDs are
 * reserved-looking values no catalog hands out.  The wrappers check for it
 * before anything else, so md and stratad never see it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>

#include "postmaster/postmaster.h"
#include "storage/smgr.h"

#include "smgrprobe.h"

#define SENTINEL_OID		((Oid) 0xFFFFFFF5)
#define SENTINEL_BACKEND	((BackendId) 0x7FFFFF)

StaticAssertDecl(SENTINEL_BACKEND > MAX_BACKENDS,
				 "the sentinel's backend ID must be impossible");

bool		smgrprobe_armed = false;

static uint32 probe_seen;

static const char *const slot_names[SP_NSLOTS] = {
	[SP_OPEN] = "smgr_open",
	[SP_CLOSE] = "smgr_close",
	[SP_CREATE] = "smgr_create",
	[SP_EXISTS] = "smgr_exists",
	[SP_UNLINK] = "smgr_unlink",
	[SP_EXTEND] = "smgr_extend",
	[SP_PREFETCH] = "smgr_prefetch",
	[SP_READ] = "smgr_read",
	[SP_WRITE] = "smgr_write",
	[SP_WRITEBACK] = "smgr_writeback",
	[SP_NBLOCKS] = "smgr_nblocks",
	[SP_TRUNCATE] = "smgr_truncate",
};

#define BIT(slot) ((uint32) 1 << (slot))

static RelFileNodeBackend
sentinel(void)
{
	RelFileNodeBackend r;

	r.node.spcNode = SENTINEL_OID;
	r.node.dbNode = SENTINEL_OID;
	r.node.relNode = SENTINEL_OID;
	r.backend = SENTINEL_BACKEND;
	return r;
}

bool
smgrprobe_record(RelFileNodeBackend rnode, smgrprobe_slot slot)
{
	RelFileNodeBackend s = sentinel();

	if (!RelFileNodeBackendEquals(rnode, s))
		return false;
	probe_seen |= BIT(slot);
	return true;
}

static SMgrRelation
probe_begin(void)
{
	RelFileNodeBackend s = sentinel();

	probe_seen = 0;
	smgrprobe_armed = true;
	return smgropen(s.node, s.backend);
}

/*
 * FATAL unless one entry point's call reached exactly the slots in want
 * (others it reaches on the way, like smgrtruncate()'s nblocks, are in
 * also); then forget what was seen.
 */
static void
probe_expect(const char *entry, uint32 want, uint32 also)
{
	uint32		missing = want & ~probe_seen;

	for (int i = 0; i < SP_NSLOTS; i++)
	{
		if ((missing & BIT(i)) == 0)
			continue;
		smgrprobe_armed = false;
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: the storage manager slot \"%s\" is not reached through smgrsw in this server build",
						slot_names[i]),
				 errdetail("A call of %s() on a sentinel relation did not reach strata's wrapper, so this server's smgr.c calls md.c there directly and that operation would bypass stratad.",
						   entry),
				 errhint("This server executable was compiled differently from the PostgreSQL 15 builds strata knows; strata refuses to run on it. See \"Verified PostgreSQL minors\" in strata's README.")));
	}
	if ((probe_seen & ~(want | also)) != 0)
		elog(FATAL, "strata: %s() on the sentinel reached unexpected smgr slots (mask 0x%x)",
			 entry, probe_seen & ~(want | also));
	probe_seen = 0;
}

static void
probe_end(SMgrRelation reln)
{
	smgrclose(reln);
	probe_expect("smgrclose", BIT(SP_CLOSE), 0);
	smgrprobe_armed = false;
}

void
smgrprobe_install(void)
{
	SMgrRelation reln;
	PGAlignedBlock page;
	bool		open_reached;

	memset(page.data, 0, BLCKSZ);
	reln = probe_begin();
	/* gcc folds smgropen()'s slot on Debian; md's mdopen runs either way */
	open_reached = (probe_seen & BIT(SP_OPEN)) != 0;
	probe_seen = 0;

	smgrcreate(reln, MAIN_FORKNUM, false);
	probe_expect("smgrcreate", BIT(SP_CREATE), 0);
	(void) smgrexists(reln, MAIN_FORKNUM);
	probe_expect("smgrexists", BIT(SP_EXISTS), 0);
	(void) smgrnblocks(reln, MAIN_FORKNUM);
	probe_expect("smgrnblocks", BIT(SP_NBLOCKS), 0);
	smgrextend(reln, MAIN_FORKNUM, 0, page.data, true);
	probe_expect("smgrextend", BIT(SP_EXTEND), 0);
	(void) smgrprefetch(reln, MAIN_FORKNUM, 0);
	probe_expect("smgrprefetch", BIT(SP_PREFETCH), 0);
	smgrread(reln, MAIN_FORKNUM, 0, page.data);
	probe_expect("smgrread", BIT(SP_READ), 0);
	smgrwrite(reln, MAIN_FORKNUM, 0, page.data, true);
	probe_expect("smgrwrite", BIT(SP_WRITE), 0);
	smgrwriteback(reln, MAIN_FORKNUM, 0, 1);
	probe_expect("smgrwriteback", BIT(SP_WRITEBACK), 0);
	probe_end(reln);

	ereport(LOG,
			(errmsg("strata: smgr probe: create, exists, nblocks, extend, prefetch, read, write, writeback and close reach strata; open %s",
					open_reached ? "reaches strata (md's mdopen runs)" : "calls md directly (as expected)")));
}

void
smgrprobe_shmem(void)
{
	void		(*truncate2) (SMgrRelation, ForkNumber *, int, BlockNumber *, BlockNumber *);
	void	   *self = dlopen(NULL, RTLD_NOW);
	SMgrRelation reln;
	ForkNumber	fork = MAIN_FORKNUM;
	BlockNumber old_blocks = 0;
	BlockNumber nblocks = 0;

	/* smgr.c has already checked that this agrees with the version */
	truncate2 = (void (*) (SMgrRelation, ForkNumber *, int, BlockNumber *, BlockNumber *))
		(self ? dlsym(self, "smgrtruncate2") : NULL);

	reln = probe_begin();
	probe_seen = 0;
	smgrtruncate(reln, &fork, 1, &nblocks);
	/* from 15.11 it asks for the old size first */
	probe_expect("smgrtruncate", BIT(SP_TRUNCATE), BIT(SP_NBLOCKS));
	if (truncate2 != NULL)
	{
		truncate2(reln, &fork, 1, &old_blocks, &nblocks);
		probe_expect("smgrtruncate2", BIT(SP_TRUNCATE), 0);
	}
	smgrdounlinkall(&reln, 1, false);
	probe_expect("smgrdounlinkall", BIT(SP_UNLINK) | BIT(SP_CLOSE), 0);
	probe_end(reln);
	if (self != NULL)
		dlclose(self);
	ereport(LOG,
			(errmsg("strata: smgr probe: truncate (through smgrtruncate%s) and unlink reach strata",
					truncate2 != NULL ? " and smgrtruncate2" : "")));
}
