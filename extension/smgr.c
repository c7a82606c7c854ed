/*-------------------------------------------------------------------------
 *
 * smgr.c
 *	  The strata storage manager: temp relations stay on md, every other
 *	  relation fork lives in stratad (ARCHITECTURE.md 2.2).
 *
 * Each strata fork keeps an empty local "stub" file made by md: it keeps
 * GetNewRelFileNode()'s collision check and md's deferred unlink working,
 * and it is what smgrimmedsync() (a slot gcc compiled to a direct md call)
 * fsyncs.  Stubs are never read or written (I11).
 *
 * Writes return once stratad acknowledged them (in its log, in the kernel)
 * and register a sync request like md's register_dirty_segment(), so the
 * checkpoint's sync phase sends one SYNC (durability.c).  Sizes come from the
 * shared relsize cache, filled from acknowledgements and NBLOCKS answers.
 *
 * The table is built for the running server's md.c: the truncate slot's
 * signature changed in 15.11 (smgr_choose_truncate_abi()).  Every wrapper
 * first answers smgrprobe.c's sentinel, so the postmaster can prove the
 * slots are reached.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "access/xlogutils.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/md.h"
#include "storage/smgr.h"
#include "utils/rel.h"

#include "durability.h"
#include "errmap.h"
#include "filecache.h"
#include "key.h"
#include "lsn.h"
#include "lwlsn.h"
#include "readahead.h"
#include "relsize.h"
#include "ring.h"
#include "smgr.h"
#include "smgrprobe.h"
#include "stats.h"
#include "tablepatch.h"
#include "unlogged.h"
#include "wset.h"

XLogRecPtr
smgr_change_lsn(void)
{
	XLogRecPtr	lsn;

	if (RecoveryInProgress())
		lsn = GetXLogReplayRecPtr(NULL);
	else
		lsn = GetXLogInsertRecPtr();
	return lsn == InvalidXLogRecPtr ? 1 : lsn;
}

static void
init_req(struct proto_req *req, uint8 tag, RelFileNode rnode, ForkNumber fork)
{
	memset(req, 0, sizeof(*req));
	req->tag = tag;
	req->rel = ring_rel(rnode, fork);
	if (tag >= PROTO_CREATE)
		req->request_lsn = smgr_change_lsn();
	else
		req->request_lsn = LSN_MAX;
}

/* Every request outside recovery first makes sure unlogged forks were reset. */
static void
before_request(void)
{
	unlogged_maybe_reset();
}

static const char *
fork_path(RelFileNode rnode, ForkNumber fork)
{
	return relpathperm(rnode, fork);
}

/* ---------- smgr callbacks ---------- */

/*
 * open and close only answer the probe: the stub is md's, and md's
 * per-relation state is set up (mdopen) and released (mdclose) as usual.
 */
static void
strata_open(SMgrRelation reln)
{
	(void) smgrprobe_hit(reln->smgr_rnode, SP_OPEN);
	mdopen(reln);
}

static void
strata_close(SMgrRelation reln, ForkNumber forknum)
{
	if (smgrprobe_hit(reln->smgr_rnode, SP_CLOSE))
		return;
	mdclose(reln, forknum);
}

static void
strata_create(SMgrRelation reln, ForkNumber forknum, bool isRedo)
{
	struct proto_req req;
	ring_result res;

	if (smgrprobe_hit(reln->smgr_rnode, SP_CREATE))
		return;
	/* the stub, with md's own checks and errors */
	mdcreate(reln, forknum, isRedo);
	if (SmgrIsTemp(reln))
		return;

	before_request();
	init_req(&req, PROTO_CREATE, reln->smgr_rnode.node, forknum);
	if (isRedo)
		req.flags = PROTO_CREATE_TOLERATE_EXISTS;
	ring_call(&req, &res);
	strata_count(SC_CREATE, 1);
	if (res.error)
		errmap_report(&res, psprintf("create relation fork \"%s\"",
								  fork_path(reln->smgr_rnode.node, forknum)));
	durability_register_change();
	if (isRedo)
		relsize_forget_rel(reln->smgr_rnode.node);
	else
		relsize_set(reln->smgr_rnode.node, forknum, 0);
}

/*
 * Size of a fork from the cache or stratad; RELSIZE_NOT_EXISTS if stratad
 * does not have it.
 */
static BlockNumber
fork_size(RelFileNode rnode, ForkNumber forknum)
{
	struct proto_req req;
	ring_result res;
	BlockNumber nblocks;
	uint64		changes;

	if (relsize_get(rnode, forknum, &nblocks))
	{
		strata_count(SC_RELSIZE_HITS, 1);
		return nblocks;
	}
	strata_count(SC_RELSIZE_MISSES, 1);
	before_request();
	changes = relsize_change_count();
	init_req(&req, PROTO_NBLOCKS, rnode, forknum);
	ring_call(&req, &res);
	strata_count(SC_NBLOCKS, 1);
	if (res.error && res.errcode != PROTO_E_NOT_FOUND)
		errmap_report(&res, psprintf("get size of relation fork \"%s\"",
								  fork_path(rnode, forknum)));
	nblocks = res.error ? RELSIZE_NOT_EXISTS : res.nblocks;
	/* I10: only if no local change raced with the question */
	relsize_set_if_unchanged(rnode, forknum, nblocks, changes);
	return nblocks;
}

static bool
strata_exists(SMgrRelation reln, ForkNumber forknum)
{
	if (smgrprobe_hit(reln->smgr_rnode, SP_EXISTS))
		return false;
	if (SmgrIsTemp(reln))
		return mdexists(reln, forknum);
	strata_count(SC_EXISTS, 1);
	return fork_size(reln->smgr_rnode.node, forknum) != RELSIZE_NOT_EXISTS;
}

static void
strata_unlink(RelFileNodeBackend rnode, ForkNumber forknum, bool isRedo)
{
	struct proto_req req;
	ring_result res;

	if (smgrprobe_hit(rnode, SP_UNLINK))
		return;
	if (RelFileNodeBackendIsTemp(rnode))
	{
		mdunlink(rnode, forknum, isRedo);
		return;
	}

	/*
	 * stratad first, then the stub: a stub without data is recreated as
	 * needed, data without a stub could be reused by a new relfilenode.
	 */
	before_request();
	init_req(&req, PROTO_UNLINK, rnode.node,
			 forknum == InvalidForkNumber ? KEY_FORK_ALL : forknum);
	if (forknum == InvalidForkNumber)
		req.rel.fork = KEY_FORK_ALL;
	ring_call(&req, &res);
	strata_count(SC_UNLINK, 1);
	relsize_forget_rel(rnode.node);
	ring_forget_rel(rnode.node);
	fc_forget_rel(rnode.node, forknum, 0);
	if (res.error)
	{
		/* like md's unlink failures: the relation is gone for PostgreSQL */
		ereport(WARNING,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not remove relation \"%s\" from stratad: %s",
						relpathperm(rnode.node, forknum == InvalidForkNumber ? MAIN_FORKNUM : forknum),
						res.errmsg)));
	}
	else
		durability_register_change();
	mdunlink(rnode, forknum, isRedo);
}

/* Send a page-carrying change and account for it. */
static uint64
send_page(uint8 tag, SMgrRelation reln, ForkNumber forknum,
		  BlockNumber blocknum, char *buffer, bool skipFsync)
{
	RelFileNode rnode = reln->smgr_rnode.node;
	struct proto_req req;
	ring_result res;

	before_request();
	ws_add(rnode, forknum, blocknum);
	init_req(&req, tag, rnode, forknum);
	req.blk = blocknum;
	req.page = (const uint8 *) buffer;
	ring_call(&req, &res);
	strata_count(tag == PROTO_WRITE ? SC_WRITE : SC_EXTEND, 1);

	/*
	 * md writes past the end of a file by extending it, and some callers
	 * rely on that (btbuildempty() writes block 0 of an empty init fork).
	 */
	if (res.error && res.errcode == PROTO_E_BEYOND_EOF && tag == PROTO_WRITE)
	{
		init_req(&req, PROTO_EXTEND, rnode, forknum);
		req.blk = blocknum;
		req.page = (const uint8 *) buffer;
		ring_call(&req, &res);
		strata_count(SC_EXTEND, 1);
		if (!res.error)
			relsize_extend(rnode, forknum, blocknum + 1);
	}
	if (res.error)
		errmap_report(&res, psprintf("%s block %u of relation \"%s\"",
								  tag == PROTO_WRITE ? "write" : "extend",
								  blocknum, fork_path(rnode, forknum)));
	lwlsn_advance(rnode, forknum, blocknum, res.stored_lsn);
	/* FC1: after the last-written LSN, so a racing store sees one or the other */
	fc_write(rnode, forknum, blocknum, buffer);
	pg_atomic_fetch_add_u64(&strata_shared->write_gen, 1);
	durability_register_write(rnode, forknum, skipFsync);
	return res.stored_lsn;
}

static void
strata_extend(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			  char *buffer, bool skipFsync)
{
	if (smgrprobe_hit(reln->smgr_rnode, SP_EXTEND))
		return;
	if (SmgrIsTemp(reln))
	{
		mdextend(reln, forknum, blocknum, buffer, skipFsync);
		return;
	}
	/* md's limit: InvalidBlockNumber is P_NEW */
	if (blocknum == InvalidBlockNumber)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot extend file \"%s\" beyond %u blocks",
						fork_path(reln->smgr_rnode.node, forknum),
						InvalidBlockNumber)));
	(void) send_page(PROTO_EXTEND, reln, forknum, blocknum, buffer, skipFsync);
	relsize_extend(reln->smgr_rnode.node, forknum, blocknum + 1);
}

static bool
strata_prefetch(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum)
{
	if (smgrprobe_hit(reln->smgr_rnode, SP_PREFETCH))
		return false;
	if (SmgrIsTemp(reln))
		return mdprefetch(reln, forknum, blocknum);
	before_request();
	/*
	 * A cached block needs no prefetch.  Still report it as initiated: the
	 * recovery prefetcher treats false as a missing block (ERROR).
	 */
	if (fc_contains(reln->smgr_rnode.node, forknum, blocknum))
		return true;
	ring_prefetch(reln->smgr_rnode.node, forknum, blocknum);
	return true;
}

static void
strata_read(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			char *buffer)
{
	RelFileNode rnode = reln->smgr_rnode.node;
	ring_result res;

	if (smgrprobe_hit(reln->smgr_rnode, SP_READ))
		return;
	if (SmgrIsTemp(reln))
	{
		mdread(reln, forknum, blocknum, buffer);
		return;
	}
	before_request();
	ws_add(rnode, forknum, blocknum);
	readahead_note_read(reln, forknum, blocknum);
	if (fc_read(rnode, forknum, blocknum, buffer))
		return;
	/* the ring stores stratad's answer in the file cache (ring.c) */
	if (ring_read(rnode, forknum, blocknum, buffer, &res))
		return;

	/* md's behaviour for a block past the end of the file */
	if (res.errcode == PROTO_E_BEYOND_EOF && (zero_damaged_pages || InRecovery))
	{
		MemSet(buffer, 0, BLCKSZ);
		return;
	}
	if (res.errcode == PROTO_E_BEYOND_EOF)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read block %u in file \"%s\": read only 0 of %d bytes",
						blocknum, fork_path(rnode, forknum), BLCKSZ),
				 errdetail("stratad: %s", res.errmsg)));
	errmap_report(&res, psprintf("read block %u in file \"%s\"", blocknum,
							  fork_path(rnode, forknum)));
}

static void
strata_write(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			 char *buffer, bool skipFsync)
{
	if (smgrprobe_hit(reln->smgr_rnode, SP_WRITE))
		return;
	if (SmgrIsTemp(reln))
	{
		mdwrite(reln, forknum, blocknum, buffer, skipFsync);
		return;
	}
	(void) send_page(PROTO_WRITE, reln, forknum, blocknum, buffer, skipFsync);
}

static void
strata_writeback(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
				 BlockNumber nblocks)
{
	if (smgrprobe_hit(reln->smgr_rnode, SP_WRITEBACK))
		return;
	/* stratad bounds its own dirty data; nothing to hint */
	if (SmgrIsTemp(reln))
		mdwriteback(reln, forknum, blocknum, nblocks);
}

static BlockNumber
strata_nblocks(SMgrRelation reln, ForkNumber forknum)
{
	BlockNumber nblocks;

	if (smgrprobe_hit(reln->smgr_rnode, SP_NBLOCKS))
		return 0;
	if (SmgrIsTemp(reln))
		return mdnblocks(reln, forknum);
	nblocks = fork_size(reln->smgr_rnode.node, forknum);
	if (nblocks == RELSIZE_NOT_EXISTS)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("could not open file \"%s\": No such file or directory",
						fork_path(reln->smgr_rnode.node, forknum)),
				 errdetail("stratad has no such relation fork.")));
	return nblocks;
}

/*
 * Truncate a strata fork.  From 15.11 on this runs inside
 * RelationTruncate()'s critical section, so an ERROR here is a PANIC, as a
 * failed ftruncate is for md.
 */
static void
truncate_fork(SMgrRelation reln, ForkNumber forknum, BlockNumber nblocks)
{
	RelFileNode rnode = reln->smgr_rnode.node;
	struct proto_req req;
	ring_result res;

	before_request();
	init_req(&req, PROTO_TRUNCATE, rnode, forknum);
	req.nblocks = nblocks;
	ring_call(&req, &res);
	strata_count(SC_TRUNCATE, 1);
	ring_forget_rel(rnode);
	/* after the answer: a GETPAGE queued from now on sees the truncation */
	fc_forget_rel(rnode, forknum, nblocks);
	if (res.error)
	{
		/* md tolerates a too-short file in recovery */
		if (res.errcode == PROTO_E_BEYOND_EOF && InRecovery)
		{
			relsize_forget_rel(rnode);
			return;
		}
		relsize_forget_rel(rnode);
		errmap_report(&res, psprintf("truncate relation \"%s\" to %u blocks",
								  fork_path(rnode, forknum), nblocks));
	}
	relsize_set(rnode, forknum, nblocks);
	pg_atomic_fetch_add_u64(&strata_shared->write_gen, 1);
	durability_register_write(rnode, forknum, false);
}

/*
 * The smgr_truncate slot has one of two signatures, depending on the
 * running server's md.c (smgr_choose_truncate_abi()): the server calls
 * whichever wrapper is installed with its own, and temp relations go to
 * md's mdtruncate with that same signature.
 */

/* 15.11 on: mdtruncate(reln, forknum, old_blocks, nblocks) */
static void
strata_truncate(SMgrRelation reln, ForkNumber forknum, BlockNumber old_blocks,
				BlockNumber nblocks)
{
	if (smgrprobe_hit(reln->smgr_rnode, SP_TRUNCATE))
		return;
	if (SmgrIsTemp(reln))
	{
		mdtruncate(reln, forknum, old_blocks, nblocks);
		return;
	}
	truncate_fork(reln, forknum, nblocks);
}

/*
 * 15.0-15.10: mdtruncate(reln, forknum, nblocks).  The headers we build
 * with declare 15.11's signature, so md's function is looked up by name
 * (smgr_choose_truncate_abi()) and called through this type.
 */
typedef void (*mdtruncate_nblocks_fn) (SMgrRelation reln, ForkNumber forknum,
									   BlockNumber nblocks);
static mdtruncate_nblocks_fn md_truncate_nblocks;

static void
strata_truncate_nblocks(SMgrRelation reln, ForkNumber forknum,
						BlockNumber nblocks)
{
	if (smgrprobe_hit(reln->smgr_rnode, SP_TRUNCATE))
		return;
	if (SmgrIsTemp(reln))
	{
		md_truncate_nblocks(reln, forknum, nblocks);
		return;
	}
	truncate_fork(reln, forknum, nblocks);
}

/*
 * Never reached on Debian's 15.18 and 15.20 builds (gcc made
 * smgrimmedsync() call md directly; tools/minor-versions.sh checks each
 * build's machine code).  Either way is correct: md syncs the stub, and the
 * writes that smgrimmedsync() is meant to make durable were made with
 * skipFsync, which durability.c turns into a SYNC before commit.  If a
 * build does reach it, also remember to SYNC before commit.
 */
static void
strata_immedsync(SMgrRelation reln, ForkNumber forknum)
{
	mdimmedsync(reln, forknum);
	if (!SmgrIsTemp(reln))
		durability_register_write(reln->smgr_rnode.node, forknum, true);
}

static const strata_f_smgr strata_smgr = {
	.smgr_init = mdinit,
	.smgr_shutdown = NULL,
	.smgr_open = strata_open,
	.smgr_close = strata_close, /* closes the stub */
	.smgr_create = strata_create,
	.smgr_exists = strata_exists,
	.smgr_unlink = strata_unlink,
	.smgr_extend = strata_extend,
	.smgr_prefetch = strata_prefetch,
	.smgr_read = strata_read,
	.smgr_write = strata_write,
	.smgr_writeback = strata_writeback,
	.smgr_nblocks = strata_nblocks,
	.smgr_truncate = strata_truncate,
	.smgr_immedsync = strata_immedsync,
};

const struct strata_f_smgr *
strata_smgr_table(smgr_truncate_abi abi)
{
	static strata_f_smgr table;

	table = strata_smgr;
	if (abi == SMGR_TRUNCATE_NBLOCKS)
		table.smgr_truncate = (void (*) (SMgrRelation, ForkNumber, BlockNumber, BlockNumber))
			(void (*) (void)) strata_truncate_nblocks;
	return &table;
}

/* ---------- which md.c is this? ---------- */

/*
 * The first 15.x whose md.c has mdtruncate(..., old_blocks, nblocks) and
 * smgr.c smgrtruncate2(): the back-patched fix for truncation racing a
 * checkpoint (upstream 38c579b08988, released in 15.11).
 */
#define FIRST_OLD_BLOCKS_VERSION 150011

smgr_truncate_abi
smgr_choose_truncate_abi(int server_version_num)
{
	void	   *self = dlopen(NULL, RTLD_NOW);
	void	   *sym = self ? dlsym(self, "smgrtruncate2") : NULL;
	bool		by_version = server_version_num >= FIRST_OLD_BLOCKS_VERSION;
	bool		by_symbol = sym != NULL;
	Dl_info		sym_info;
	Dl_info		server_info;

	/* only the server executable's own smgrtruncate2 counts */
	if (by_symbol &&
		(dladdr(sym, &sym_info) == 0 ||
		 dladdr((void *) smgropen, &server_info) == 0 ||
		 sym_info.dli_fbase != server_info.dli_fbase))
		by_symbol = false;
	if (!by_symbol)
		md_truncate_nblocks = (mdtruncate_nblocks_fn) (self ? dlsym(self, "mdtruncate") : NULL);
	if (self != NULL)
		dlclose(self);

	if (by_version != by_symbol)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata cannot tell how this server truncates relations"),
				 errdetail("Server version %d should %s the function smgrtruncate2, but the server executable %s it, so md.c's mdtruncate() may have either signature.",
						   server_version_num,
						   by_version ? "have" : "not have",
						   by_symbol ? "has" : "does not have"),
				 errhint("This is not a PostgreSQL 15 minor release strata knows (smgrtruncate2 arrived in 15.11); strata refuses to guess. See \"Verified PostgreSQL minors\" in strata's README.")));
	if (!by_symbol && md_truncate_nblocks != (mdtruncate_nblocks_fn) (void (*) (void)) mdtruncate)
		elog(FATAL, "strata: could not look up the server's mdtruncate");
	return by_symbol ? SMGR_TRUNCATE_OLD_BLOCKS : SMGR_TRUNCATE_NBLOCKS;
}
